# Sourced by run.sh and stories.sh: a throwaway PostgreSQL (installed from Debian
# packages if missing) with four databases and four login roles that can each
# reach only their own, the build, and the four services as separate processes.
# Defines: root, run_dir, bin, pids, fieldctl(), step(); stops everything on exit.
# FIELDWORK_BUILD=debug reuses the test build instead of the release build.
#   start_fieldwork [extra environment assignments for every service…]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/local/build-lib.sh
root=$PWD
run_dir=${FIELDWORK_RUN_DIR:-$root/.run}
pg_port=${FIELDWORK_PG_PORT:-15432}
pg_dir=/tmp/fieldwork-run-pg-$pg_port
mkdir -p "$run_dir/logs"
# The service-token secret below is published in this repository: fine on a
# development machine, refused anywhere else (FIELDWORK_ENV, SPEC §8.4).
export FIELDWORK_JWT_SECRET=${FIELDWORK_JWT_SECRET:-fieldwork-local-development-secret-0123456789}
export FIELDWORK_ENV=dev
# User tokens are ES256: a key pair made for this machine by `fieldctl dev-keys`
# (after the build), never committed; the services get the public JWKS, and
# fieldctl token and fieldwork-demo sign with the private key.
export FIELDWORK_SIGNING_KEY=$run_dir/keys/signing-key.pem FIELDWORK_SIGNING_KEY_ID=dev

pids=()
stop_all() {
  # A second Ctrl-C must not cut the clean-up short.
  trap '' INT TERM
  trap - EXIT
  echo; echo "stopping services…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  deploy/local/postgres.sh stop "$pg_dir"
  echo "stopped."
}
trap stop_all EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

start_fieldwork() {
  step "PostgreSQL on 127.0.0.1:$pg_port"
  deploy/local/postgres.sh ensure-installed
  deploy/local/postgres.sh stop "$pg_dir"
  rm -rf "$pg_dir"
  deploy/local/postgres.sh start "$pg_dir" "$pg_port"
  for service in visits workflows scoring notifications; do
    deploy/local/postgres.sh create-db "$pg_dir" "$pg_port" "fieldwork_$service" "local-$service-password"
  done

  # Release by default: the services do several times more per CPU second than a
  # debug build, which is what makes months of simulation take minutes.
  local config=${FIELDWORK_BUILD:-release}
  step "Building ($config; the first build of the dependencies takes several minutes)"
  local build_start=$SECONDS
  fieldwork_build "$config" "$run_dir/logs/build.log"
  echo "built in $((SECONDS - build_start)) s"
  [ -f "$FIELDWORK_SIGNING_KEY" ] || "$bin/fieldctl" dev-keys --dir "$run_dir/keys" --key-id "$FIELDWORK_SIGNING_KEY_ID" >/dev/null

  step "Starting the four services"
  for port in 7101 7102 7103 7104 9101 9102 9103 9104; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port is already in use (another Fieldwork running?); stop it first" >&2
      exit 1
    fi
  done
  declare -A ports=([visits]=7101 [workflows]=7102 [scoring]=7103 [notifications]=7104)
  declare -A subscribers=(
    [visits]="workflows=127.0.0.1:7102,scoring=127.0.0.1:7103,notifications=127.0.0.1:7104"
    [workflows]="notifications=127.0.0.1:7104,scoring=127.0.0.1:7103"
    [scoring]="notifications=127.0.0.1:7104"
    [notifications]=""
  )
  for service in visits workflows scoring notifications; do
    local prefix="FIELDWORK_${service^^}_"
    local extra=()
    for assignment in "$@"; do extra+=("$prefix$assignment"); done
    env "${prefix}DATABASE_URL=postgres://fieldwork_$service:local-$service-password@127.0.0.1:$pg_port/fieldwork_$service" \
        "${prefix}JWT_SECRET=$FIELDWORK_JWT_SECRET" \
        "${prefix}JWKS_FILE=$run_dir/keys/jwks.json" \
        "${prefix}SUBSCRIBERS=${subscribers[$service]}" \
        "${prefix}CHECKIN_KEYS=k2026=local-checkin-signing-key-0123456789" \
        "${prefix}WATERMARK_KEY=local-gps-watermark-key-0123456789" \
        "${extra[@]}" \
        "$bin/fieldwork-$service" >"$run_dir/logs/$service.log" 2>&1 &
    pids+=($!)
    echo "fieldwork-$service  127.0.0.1:${ports[$service]}  metrics :$((${ports[$service]} + 2000))  log $run_dir/logs/$service.log"
  done
  for _ in $(seq 1 120); do
    fieldctl health --strict >/dev/null 2>&1 && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "a service exited during start-up; its log:" >&2
      tail -n 20 "$run_dir"/logs/*.log >&2
      exit 1
    fi
  done
  fieldctl health
}

fieldctl() { "$bin/fieldctl" "$@"; }

# Keeps the services up until Ctrl-C (`wait` returns as soon as a signal arrives;
# a foreground `sleep` would delay the trap).
keep_running() {
  wait "${pids[@]}" || true
  echo "a service stopped by itself; see $run_dir/logs" >&2
}

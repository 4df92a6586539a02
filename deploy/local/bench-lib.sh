# Shared by the bench-*.sh scripts (sourced): a fresh PostgreSQL with one
# service database, the release (or CONFIG=debug) binaries, and clean-up on exit.
source deploy/local/build-lib.sh

# bench_start_postgres DIR PORT DATABASE — a new server in DIR with DATABASE
# (password bench-password); stops it, and the service in $pid, on exit.
# Its buffer cache is sized as an operator sizes it for production (a share of
# the memory, here 1 GB of 24), not PostgreSQL's default of 128 MB, which holds
# less than the million-card table and its indexes: with it, the sweep's plan
# shows ~950 of its 1 000 cards' pages read in and dirty pages written out.
# The pgbench ceilings run on the same server. BENCH_PG_SHARED_BUFFERS=128MB
# measures with the default instead.
bench_start_postgres() {
  bench_pg_dir=$1
  deploy/local/postgres.sh ensure-installed
  deploy/local/postgres.sh stop "$1"; rm -rf "$1"
  deploy/local/postgres.sh start "$1" "$2" "shared_buffers=${BENCH_PG_SHARED_BUFFERS:-1GB}"
  deploy/local/postgres.sh create-db "$1" "$2" "$3" bench-password
  pid=
  trap bench_cleanup EXIT
}

bench_cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  deploy/local/postgres.sh stop "$bench_pg_dir"
}

# bench_build — builds the executables (the same build as `make run`); sets $bin.
bench_build() {
  local config=${CONFIG:-release}   # CONFIG=debug reuses the test build (slower service, figures not comparable)
  echo "building $config binaries…" >&2
  mkdir -p .run/logs
  fieldwork_build "$config" .run/logs/build.log >&2
  # User tokens are ES256: a key pair for this run (`fieldctl dev-keys`); the
  # service reads its JWKS ($bench_keys/jwks.json), the bench client signs with
  # $bench_keys/signing-key.pem. The published secrets are accepted as in dev.
  bench_keys=$(mktemp -d)
  "$bin/fieldctl" dev-keys --dir "$bench_keys" >/dev/null
  export FIELDWORK_ENV=dev
}

# bench_wait_port PORT — until something listens there (20 s at most).
bench_wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "nothing listens on $1; see the service log" >&2
  return 1
}

# bench_wait_migrated LOG — waits until the service has migrated its database
# (one transaction: all migrations or none), at most 60 s; uses the script's sql().
bench_wait_migrated() {
  for _ in $(seq 1 300); do
    [ "$(sql -Atc "SELECT count(*) > 0 FROM schema_migrations" 2>/dev/null)" = t ] && return 0
    sleep 0.2
  done
  echo "the service did not migrate its database within 60 s; see $1" >&2
  return 1
}

# bench_ensure_h2load — installs nghttp2-client (h2load, for deploy/local/ceilings/grpc-unary-load)
# if missing and this is root; otherwise says so and returns 1.
bench_ensure_h2load() {
  command -v h2load >/dev/null && return 0
  if [ "$(id -u)" = 0 ]; then
    echo "installing nghttp2-client (h2load) from Debian packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null
  else
    echo "h2load missing (sudo apt-get install nghttp2-client): the gRPC floor is not measured" >&2
    return 1
  fi
}

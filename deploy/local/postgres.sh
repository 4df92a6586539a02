#!/usr/bin/env bash
# A throwaway PostgreSQL server for local runs and tests: its own data directory,
# port and socket folder, so it never clashes with another cluster.
#
#   postgres.sh ensure-installed          install Debian's postgresql if missing (root)
#   postgres.sh start DIR PORT [NAME=VALUE…]
#                                         initdb on first use, then start on 127.0.0.1:PORT,
#                                         with extra server settings if given
#   postgres.sh stop DIR                  fast shutdown
#   postgres.sh create-db DIR PORT NAME PASSWORD
#                                         a login role NAME owning database NAME; pg_hba
#                                         ('sameuser') lets it reach only that database
#
# The superuser 'postgres' connects without a password over the socket in DIR
# and over 127.0.0.1 (trust; this server listens on loopback only).
set -euo pipefail

pgbin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

# initdb and postgres refuse to run as root: use the 'postgres' account then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:-}
case "$cmd" in
  ensure-installed)
    if ! pgbin >/dev/null; then
      if [ "$(id -u)" = 0 ]; then
        echo "postgres.sh: installing postgresql from Debian packages" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      else
        echo "postgres.sh: PostgreSQL server binaries missing; run: sudo apt-get install postgresql" >&2
        exit 1
      fi
    fi
    ;;
  start)
    dir=$2 port=$3
    settings=""
    for setting in "${@:4}"; do settings+=" -c $setting"; done
    bin=$(pgbin)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir" && chmod 700 "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
      cat > "$dir/pg_hba.conf" <<HBA
# TYPE  DATABASE  USER      ADDRESS         METHOD
local   all       postgres                  trust
host    all       postgres  127.0.0.1/32    trust
host    sameuser  all       127.0.0.1/32    scram-sha-256
HBA
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/pg_hba.conf"
    fi
    as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off$settings" start >/dev/null
    echo "postgres.sh: PostgreSQL listening on 127.0.0.1:$port (data $dir)" >&2
    ;;
  stop)
    dir=$2
    bin=$(pgbin)
    if [ -f "$dir/postmaster.pid" ]; then as_owner "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true; fi
    ;;
  create-db)
    dir=$2 port=$3 name=$4 password=$5
    psql -v ON_ERROR_STOP=1 -q -h "$dir" -p "$port" -U postgres -d postgres <<SQL
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', '$name', '$password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$name') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$name', '$name')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$name') \gexec
REVOKE CONNECT, TEMPORARY ON DATABASE "$name" FROM PUBLIC;
SQL
    ;;
  *)
    sed -n '2,13p' "$0" >&2
    exit 2
    ;;
esac

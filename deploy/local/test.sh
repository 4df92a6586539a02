#!/usr/bin/env bash
# `make test`: builds everything and runs every test target against a real
# PostgreSQL. Uses the server named by FIELDWORK_TEST_PG_PORT (superuser
# 'postgres' on 127.0.0.1, trust) when set, otherwise starts a throwaway one and
# stops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."

started=""
if [ -z "${FIELDWORK_TEST_PG_PORT:-}" ]; then
  export FIELDWORK_TEST_PG_PORT=15433
  pg_dir=/tmp/fieldwork-test-pg-$FIELDWORK_TEST_PG_PORT
  deploy/local/postgres.sh ensure-installed
  deploy/local/postgres.sh stop "$pg_dir"
  rm -rf "$pg_dir"
  deploy/local/postgres.sh start "$pg_dir" "$FIELDWORK_TEST_PG_PORT"
  started=$pg_dir
fi
cleanup() {
  if [ -n "$started" ]; then deploy/local/postgres.sh stop "$started"; fi
}
trap cleanup EXIT

# The integration tests start the real executables: build them first.
swift build --build-tests
export FIELDWORK_BIN_DIR=$(swift build --show-bin-path)
# Serially: the integration tests start four services each, and a 2-core machine
# running several clusters at once measures its own overload, not the system.
swift test --skip-build --no-parallel "$@"

#!/usr/bin/env bash
# `make bench-visits`: CheckIn + SubmitVisit over TCP at concurrency 32 and 128
# against a release build of the visits service, and the PostgreSQL ceiling for
# the same statements (pgbench via deploy/local/ceilings/pg-ceiling) in the same run,
# before and after the service's, and the ratio. Figures, not a pass/fail test.
# The bench client warms the service up first (1 000 unmeasured pairs; see
# Benchmarks/VisitsBenchmark). It submits records without a funnel stage or a
# request id: the path without BEGIN/COMMIT (README, Design notes); then the
# same at concurrency 32 with request ids, compared with the path without; and
# the gRPC floor (calls that do nothing, through the same client and server), to
# show how much of a pair's machine time is left to the service's own work.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/bench-lib.sh
pg_port=${FIELDWORK_BENCH_PG_PORT:-15434}
pg_dir=/tmp/fieldwork-bench-pg-$pg_port
pairs=${PAIRS:-4000}
ceiling=${PG_CEILING:-deploy/local/ceilings/pg-ceiling}
secret=bench-secret-0123456789abcdefghijklmnop

bench_start_postgres "$pg_dir" "$pg_port" fieldwork_visits

bench_build
# Before anything is measured: installing it mid-run would load the machine.
have_h2load=no
if bench_ensure_h2load; then have_h2load=yes; fi

# Three subscribers on closed ports: each event is written as three outbox rows, as in production.
FIELDWORK_VISITS_DATABASE_URL=postgres://fieldwork_visits:bench-password@127.0.0.1:$pg_port/fieldwork_visits \
FIELDWORK_VISITS_DATABASE_POOL_SIZE=32 FIELDWORK_VISITS_PORT=7191 FIELDWORK_VISITS_METRICS_PORT=-1 \
FIELDWORK_VISITS_JWT_SECRET=$secret FIELDWORK_VISITS_JWKS_FILE=$bench_keys/jwks.json FIELDWORK_VISITS_LOG_LEVEL=warning \
FIELDWORK_VISITS_SUBSCRIBERS=workflows=127.0.0.1:9,scoring=127.0.0.1:9,notifications=127.0.0.1:9 \
FIELDWORK_VISITS_CHECKIN_KEYS=b1=bench-checkin-key-0123456789 FIELDWORK_VISITS_WATERMARK_KEY=bench-watermark-key-0123456789 \
  "$bin/fieldwork-visits" >/tmp/fieldwork-bench-visits.log 2>&1 &
pid=$!
bench_wait_port 7191
sql() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d fieldwork_visits "$@"; }
bench_wait_migrated /tmp/fieldwork-bench-visits.log
# pgbench's own 64 customers (as many as the bench client's): its first ceiling
# runs before the bench client has imported any.
sql -c "INSERT INTO customers (id, registry_code, name, level, region, address, latitude, longitude, fence_radius_m, departments, owner_rep_id, grade, updated_at)
        SELECT 'PGBENCH-' || i, '', 'pgbench ' || i, '', '杭州', '', 30.0 + i * 0.01, 120.0, 300, '{}', '', 'C', now() FROM generate_series(0, 63) i"

# A UUIDv7-like id (time first) for pgbench's rows, from a seed.
sql -c "CREATE FUNCTION bench_time_ordered_id(seed text) RETURNS uuid LANGUAGE sql VOLATILE AS
        \$\$ SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7' || substr(md5(seed), 1, 19))::uuid \$\$"

# The service's statements straight from pgbench, prepared as the service's are
# (VisitStatements.swift; one script run = one pair): CheckIn's read of the fence
# and key, then its one statement (lock, open visit, visit, audit entry);
# SubmitVisit's read (visit, names, catalogue, row version), then its one
# statement (update, audit entry, three outbox rows). A rep per client and 64
# customers, as the bench client has; ids time-ordered, as the service makes them. Its outbox rows are for subscribers the service does
# not have, so the service's relay does not scan them.
script=$(mktemp)
trap 'rm -f "$script" "$script.empty"; bench_cleanup' EXIT
: > "$script.empty"   # Health/Check's request, an empty message
cat > "$script" <<'SQL'
\set n random(1, 1000000000000)
\set c random(0, 63)
SELECT id, latitude, longitude, fence_radius_m, EXISTS (SELECT FROM checkin_keys WHERE id = 'b1' AND retired_at IS NULL)
FROM customers WHERE id = 'PGBENCH-' || :c;
WITH open AS (
  SELECT id, rep_id, customer_id, status, void_reason, out_of_range, distance_m, checkin_latitude, checkin_longitude,
         checkin_accuracy_m, checked_in_at, device_time, checkin_department, watermark, checkout_latitude, checkout_longitude,
         checkout_accuracy_m, checked_out_at, record::text, amendments
  FROM open_visit_after_check_in_lock('PGB-' || :client_id, 'PGBENCH-' || :c, now() - interval '10 minutes')
), inserted AS (
  INSERT INTO visits (id, rep_id, customer_id, status, void_reason, out_of_range, distance_m, checkin_latitude,
      checkin_longitude, checkin_accuracy_m, checked_in_at, device_time, checkin_department, watermark)
  SELECT bench_time_ordered_id(:n::text),
         'PGB-' || :client_id, 'PGBENCH-' || :c, 'OPEN', '', false, 50, 30.01, 120.0, 5, now(), NULL, '', md5(:n::text)
  WHERE NOT EXISTS (SELECT FROM open)
  RETURNING id
), audited AS (
  INSERT INTO audit_log (id, at, actor_person_id, actor_role, entity_type, entity_id, action, changes, reason, request_id)
  SELECT bench_time_ordered_id(:n::text || 'c'),
         now(), 'PGB-' || :client_id, 'rep', 'visit', id::text, 'check_in',
         '[{"field":"status","before":"","after":"OPEN"},{"field":"customer_id","before":"","after":"PGBENCH-1"},{"field":"distance_m","before":"","after":"50.0"},{"field":"out_of_range","before":"","after":"false"}]',
         '', ''
  FROM inserted
)
SELECT (SELECT id FROM inserted) AS visit_id, (SELECT count(*) FROM open) AS open_visits
\gset
SELECT v.id, v.rep_id, v.customer_id, v.status, v.void_reason, v.out_of_range, v.distance_m, v.checkin_latitude, v.checkin_longitude,
       v.checkin_accuracy_m, v.checked_in_at, v.device_time, v.checkin_department, v.watermark, v.checkout_latitude, v.checkout_longitude,
       v.checkout_accuracy_m, v.checked_out_at, v.record::text, v.amendments, coalesce(c.name, '') AS customer_name,
       coalesce(c.region, '') AS region, coalesce(r.name, '') AS rep_name, p.ids, p.names, p.lines, v.xmin::text AS version
FROM visits v
LEFT JOIN customers c ON c.id = v.customer_id
LEFT JOIN people r ON r.id = v.rep_id
CROSS JOIN LATERAL (
  SELECT coalesce(array_agg(id), '{}'), coalesce(array_agg(name), '{}'), coalesce(array_agg(product_line), '{}')
  FROM products WHERE id = ANY ('{BENCH-P}') AND active
) p (ids, names, lines)
WHERE v.id = :visit_id
\gset
WITH submitted AS (
  UPDATE visits SET status = 'SUBMITTED',
      record = '{"productIds":["BENCH-P"],"objectionType":"OBJECTION_TYPE_PRICE","objectionNote":"压测","intent":"INTENT_MEDIUM"}',
      objection_type = 'PRICE', product_ids = '{BENCH-P}', checkout_latitude = 30.01, checkout_longitude = 120.0,
      checkout_accuracy_m = 5, checked_out_at = now()
  WHERE id = :visit_id AND xmin::text = :version::text
  RETURNING id
), audited AS (
  INSERT INTO audit_log (id, at, actor_person_id, actor_role, entity_type, entity_id, action, changes, reason, request_id)
  SELECT bench_time_ordered_id(:n::text || 's'),
         now(), 'PGB-' || :client_id, 'rep', 'visit', id::text, 'submit',
         '[{"field":"status","before":"OPEN","after":"SUBMITTED"},{"field":"product_ids","before":"","after":"BENCH-P"},{"field":"objection_type","before":"","after":"PRICE"},{"field":"surgery_support","before":"","after":""}]',
         '', ''
  FROM submitted
), published AS (
  INSERT INTO outbox (event_id, subscriber, aggregate_id, event_type, payload, created_at, next_attempt_at)
  SELECT o.* FROM submitted,
       outbox_rows(ARRAY[gen_random_uuid()], ARRAY['visit:' || :visit_id], ARRAY['fieldwork.v1.VisitSubmitted'],
                   ARRAY[convert_to(repeat('x', 200), 'UTF8')], ARRAY['pgbench-1', 'pgbench-2', 'pgbench-3'], now()) o
)
SELECT FROM submitted;
SQL
# The machine's speed drifts by a quarter within minutes (a shared host), so the
# ceiling is measured before and after the service's run, each time on a settled
# server (VACUUM ANALYZE, CHECKPOINT; the service stopped for the second), and
# the ratio is given against each and against their mean.
ceiling() {
  sql -c "VACUUM ANALYZE" -c "CHECKPOINT"
  bash "$ceiling" --script "$script" --clients 32 --seconds 10 -- -M prepared -h 127.0.0.1 -p "$pg_port" -U postgres fieldwork_visits
}
tps_of() { echo "$1" | sed -n 's/^pg-ceiling tx\/s: \([0-9.]*\).*/\1/p'; }
# Every pair pgbench ran must have written a visit and submitted it.
ceiling_check() {
  local problem
  problem=$(sql -Atc "SELECT CASE WHEN count(*) > 0 AND count(*) = count(*) FILTER (WHERE status = 'SUBMITTED') THEN ''
                                  ELSE 'pgbench submitted ' || count(*) FILTER (WHERE status = 'SUBMITTED') || ' of its ' || count(*) || ' visits' END
                      FROM visits WHERE rep_id LIKE 'PGB-%'")
  if [ -n "$problem" ]; then echo "bench-visits: $problem" >&2; exit 1; fi
}
before=$(ceiling)
ceiling_check
echo "before the service's run: $before"
sql -c "VACUUM ANALYZE" -c "CHECKPOINT"

bench=$("$bin/fieldwork-bench-visits" --target 127.0.0.1:7191 --secret "$secret" --signing-key "$bench_keys/signing-key.pem" --pairs "$pairs" --concurrency 32,128)
echo "$bench"
# The same pairs with a request id on every call, as an app that retries safely
# sends them: each call is then a transaction (README, Design notes). Compared
# with the run above; the pgbench ceiling stays the path without request ids.
with_ids=$("$bin/fieldwork-bench-visits" --target 127.0.0.1:7191 --secret "$secret" --signing-key "$bench_keys/signing-key.pem" --pairs "$pairs" --concurrency 32 --request-ids yes)
echo "$with_ids" | grep -v "^fieldwork-bench-visits\|^warm-up"

# The gRPC floor: pairs of calls that do nothing (Health/Check) through the same
# server and transport (the interceptors record metrics; Health needs no token, so
# JWT checking counts in "the rest"), from the same
# client over one connection with 32 in flight; no service on this stack runs more
# pairs/s than this on this machine. And the server's share of it: h2load (C, so the
# load generator costs little) on the same call, also one connection, 32 streams.
noop=$("$bin/fieldwork-bench-visits" --target 127.0.0.1:7191 --secret "$secret" --signing-key "$bench_keys/signing-key.pem" --pairs $((pairs * 4)) --concurrency 32 --calls noop)
noop_pairs=$(echo "$noop" | sed -n 's/^bench-visits no-op pairs\/s at 32: \([0-9.]*\)/\1/p')
h2load_calls=
if [ "$have_h2load" = yes ]; then
  h2load_calls=$(bash "${GRPC_UNARY_LOAD:-deploy/local/ceilings/grpc-unary-load}" --target 127.0.0.1:7191 \
      --method /grpc.health.v1.Health/Check --message "$script.empty" --requests $((pairs * 8)) --connections 1 --streams 32 \
    | sed -n 's/^grpc-unary-load calls\/s: \([0-9.]*\)/\1/p') || h2load_calls=
fi

kill -TERM "$pid"; wait "$pid" || true; pid=
after=$(ceiling)
ceiling_check
echo "after the service's run: $after"
# pgbench counts each script run as one transaction: one check-in + submit pair.
for level in 32 128; do
  pairs_s=$(echo "$bench" | sed -n "s/^bench-visits pairs\/s at $level: \([0-9.]*\)/\1/p")
  awk -v s="$pairs_s" -v b="$(tps_of "$before")" -v a="$(tps_of "$after")" -v c="$level" 'BEGIN {
    m = (a + b) / 2
    printf "ratio at concurrency %d: %.2f (service %.0f pairs/s, PostgreSQL %.0f pairs/s, the mean of %.0f before and %.0f after: %.2f / %.2f)\n", c, s / m, s, m, b, a, s / b, s / a
  }'
done
awk -v f="$noop_pairs" -v h="${h2load_calls:-0}" -v s="$(echo "$bench" | sed -n 's/^bench-visits pairs\/s at 32: \([0-9.]*\)/\1/p')" \
    -v b="$(tps_of "$before")" -v a="$(tps_of "$after")" 'BEGIN {
  m = (a + b) / 2
  if (f <= 0 || s <= 0 || m <= 0) { print "gRPC floor: a figure is missing, no split printed"; exit }
  printf "gRPC floor at concurrency 32: %.0f pairs/s of no-op calls (Health/Check, the bench client); the service runs %.2f of that\n", f, s / f
  if (h > 0) printf "  the server alone (h2load, Health/Check, 1 connection, 32 streams): %.0f calls/s\n", h
  # Machine time per pair (both cores, everything on them): the service run 1/s, pgbench 1/m, no-op pairs 1/f.
  service = 1000 / s; pg = 1000 / m; floor = 1000 / f
  printf "machine time per pair at 32: service run %.2f ms = PostgreSQL alone (pgbench, its client included) %.2f + no-op gRPC pair %.2f + the rest %.2f\n", service, pg, floor, service - pg - floor
  printf "  a ratio of 0.5 needs the run at %.2f ms a pair, which leaves the rest (handlers, PostgresNIO, what the statements cost more than in pgbench) %.2f ms\n", 2 * pg, pg - floor
}'
awk -v w="$(echo "$with_ids" | sed -n 's/^bench-visits pairs\/s at 32 with request ids: \([0-9.]*\)/\1/p')" \
    -v s="$(echo "$bench" | sed -n 's/^bench-visits pairs\/s at 32: \([0-9.]*\)/\1/p')" \
    'BEGIN { printf "with request ids at concurrency 32: %.0f pairs/s, %.2f of the %.0f without\n", w, w / s, s }'

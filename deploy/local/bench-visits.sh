#!/usr/bin/env bash
# `make bench-visits`: CheckIn + SubmitVisit over TCP at concurrency 32 and 128
# against a release build of the visits service, then the PostgreSQL ceiling for
# the same writes (pgbench via ../shared/bench/pg-ceiling) in the same run, and
# the ratio. Figures, not a pass/fail test. The bench client warms the service up
# first (1 000 unmeasured pairs; see Benchmarks/VisitsBenchmark).
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/bench-lib.sh
pg_port=${FIELDWORK_BENCH_PG_PORT:-55434}
pg_dir=/tmp/fieldwork-bench-pg-$pg_port
pairs=${PAIRS:-4000}
ceiling=${PG_CEILING:-../shared/bench/pg-ceiling}
secret=bench-secret-0123456789abcdefghijklmnop

bench_start_postgres "$pg_dir" "$pg_port" fieldwork_visits

bench_build

# Three subscribers on closed ports: each event is written as three outbox rows, as in production.
FIELDWORK_VISITS_DATABASE_URL=postgres://fieldwork_visits:bench-password@127.0.0.1:$pg_port/fieldwork_visits \
FIELDWORK_VISITS_DATABASE_POOL_SIZE=32 FIELDWORK_VISITS_PORT=7191 FIELDWORK_VISITS_METRICS_PORT=-1 \
FIELDWORK_VISITS_JWT_SECRET=$secret FIELDWORK_VISITS_LOG_LEVEL=warning \
FIELDWORK_VISITS_SUBSCRIBERS=workflows=127.0.0.1:9,scoring=127.0.0.1:9,notifications=127.0.0.1:9 \
FIELDWORK_VISITS_CHECKIN_KEYS=b1=bench-checkin-key-0123456789 FIELDWORK_VISITS_WATERMARK_KEY=bench-watermark-key-0123456789 \
  "$bin/fieldwork-visits" >/tmp/fieldwork-bench-visits.log 2>&1 &
pid=$!
bench_wait_port 7191
sql() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d fieldwork_visits "$@"; }
bench_wait_migrated /tmp/fieldwork-bench-visits.log
# pgbench's own customer: its ceiling runs before the bench client has imported any.
sql -c "INSERT INTO customers (id, registry_code, name, level, region, address, latitude, longitude, fence_radius_m, departments, owner_rep_id, grade, updated_at)
        VALUES ('PGBENCH', '', 'pgbench', '', '杭州', '', 30.0, 120.0, 300, '{}', '', 'C', now())"

# The same writes straight into PostgreSQL, keyed like the service's (by primary
# key): a visit row and its audit entry at check-in; the locked read, update, its
# audit entry and three outbox rows at submit. One script run = one pair. Its
# outbox rows are for subscribers the service does not have, so its relay does
# not scan them (they would be a backlog of ~45 000 rows during the service's run).
script=$(mktemp)
cat > "$script" <<'SQL'
\set n random(1, 1000000000000)
BEGIN;
INSERT INTO visits (id, rep_id, customer_id, status, out_of_range, distance_m, checkin_latitude, checkin_longitude, checkin_accuracy_m, checked_in_at, checkin_department, watermark)
  VALUES (md5(:n::text)::uuid, 'PGB', 'PGBENCH', 'OPEN', false, 50, 30.01, 120.0, 5, now(), '', md5(:n::text));
INSERT INTO audit_log (id, at, actor_person_id, actor_role, entity_type, entity_id, action, changes)
  VALUES (gen_random_uuid(), now(), 'PGB', 'rep', 'visit', :n::text, 'check_in', '[{"field":"status","before":"","after":"OPEN"}]');
COMMIT;
BEGIN;
SELECT id FROM visits WHERE id = md5(:n::text)::uuid FOR UPDATE;
UPDATE visits SET status = 'SUBMITTED', record = '{"productIds":["BENCH-P"],"objectionType":"OBJECTION_TYPE_PRICE"}', objection_type = 'PRICE', product_ids = '{BENCH-P}', checked_out_at = now()
  WHERE id = md5(:n::text)::uuid;
INSERT INTO audit_log (id, at, actor_person_id, actor_role, entity_type, entity_id, action, changes)
  VALUES (gen_random_uuid(), now(), 'PGB', 'rep', 'visit', :n::text, 'submit', '[{"field":"status","before":"OPEN","after":"SUBMITTED"}]');
INSERT INTO outbox (event_id, subscriber, aggregate_id, event_type, payload, created_at, next_attempt_at)
  SELECT gen_random_uuid(), s, 'visit:' || :n, 'visits.VisitSubmitted', '\x0a', now(), now() + interval '1 day'
  FROM unnest(ARRAY['pgbench-1', 'pgbench-2', 'pgbench-3']) s;
COMMIT;
SQL
# The machine's speed drifts by a quarter within minutes (a shared host), so
# the ceiling is measured before and after the service's run, and the ratio is
# against their mean.
ceiling() {
  bash "$ceiling" --script "$script" --clients 32 --seconds 10 -- -h 127.0.0.1 -p "$pg_port" -U postgres fieldwork_visits
}
tps_of() { echo "$1" | sed -n 's/^pg-ceiling tx\/s: \([0-9.]*\).*/\1/p'; }
before=$(ceiling)
echo "before the service's run: $before"
# Settle what pgbench's 15 000 pairs left (autovacuum would otherwise analyse and
# vacuum those tables during the service's run), as the service's run is settled
# for the ceiling after it by the time pgbench starts.
sql -c "VACUUM ANALYZE" -c "CHECKPOINT"

bench=$("$bin/fieldwork-bench-visits" --target 127.0.0.1:7191 --secret "$secret" --pairs "$pairs" --concurrency 32,128)
echo "$bench"

after=$(ceiling)
rm -f "$script"
echo "after the service's run: $after"
tps=$(awk -v a="$(tps_of "$before")" -v b="$(tps_of "$after")" 'BEGIN { printf "%.1f", (a + b) / 2 }')
# pgbench counts each script run as one transaction: one check-in + submit pair.
for level in 32 128; do
  pairs_s=$(echo "$bench" | sed -n "s/^bench-visits pairs\/s at $level: \([0-9.]*\)/\1/p")
  awk -v s="$pairs_s" -v p="$tps" -v c="$level" 'BEGIN { printf "ratio at concurrency %d: %.2f (service %.0f pairs/s, PostgreSQL %.0f pairs/s, mean of before and after)\n", c, s / p, s, p }'
done

#!/usr/bin/env bash
# `make bench-scoring`: against a release build of the scoring service with
# 100 000 customers and 10 000 000 facts over 6 months (purchases, trials,
# academic events), times one nightly run (RunJob scoring) and, in the same
# run, the floor: one hand-written SQL query computing the three components for
# every customer. Prints the ratio (target ≤ 1.5), the service's peak memory
# (VmHWM: it must not hold the facts), and rule evaluation throughput on a
# burst of 10 000 VisitSubmitted events. Figures, not a pass/fail test.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/bench-lib.sh
pg_port=${FIELDWORK_BENCH_PG_PORT:-15437}
pg_dir=/tmp/fieldwork-bench-scoring-pg-$pg_port
customers=${CUSTOMERS:-100000}
facts=${FACTS:-10000000}
events=${EVENTS:-10000}
secret=bench-secret-0123456789abcdefghijklmnop
port=7193

bench_start_postgres "$pg_dir" "$pg_port" fieldwork_scoring
sql() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d fieldwork_scoring "$@"; }

bench_build

# Subscribers on a closed port: warnings and firings are written to the outbox, as in production.
# The 02:00 run is pushed out of the way; the benchmark starts it by RunJob.
FIELDWORK_SCORING_DATABASE_URL=postgres://fieldwork_scoring:bench-password@127.0.0.1:$pg_port/fieldwork_scoring \
FIELDWORK_SCORING_DATABASE_POOL_SIZE=32 FIELDWORK_SCORING_PORT=$port FIELDWORK_SCORING_METRICS_PORT=-1 \
FIELDWORK_SCORING_JWT_SECRET=$secret FIELDWORK_SCORING_JWKS_FILE=$bench_keys/jwks.json FIELDWORK_SCORING_LOG_LEVEL=info \
FIELDWORK_SCORING_SUBSCRIBERS=notifications=127.0.0.1:9 \
  "$bin/fieldwork-scoring" >/tmp/fieldwork-bench-scoring.log 2>&1 &
pid=$!
bench_wait_port $port
bench_wait_migrated /tmp/fieldwork-bench-scoring.log

echo "seeding $customers customers and $facts facts over 6 months…" >&2
started=$(date +%s.%N)
sql <<SQL
SET synchronous_commit = off;
INSERT INTO directory_people (id, name, department, region, supervisor_id, roles, wecom_user_id, active, updated_at)
SELECT 'BM-' || lpad(i::text, 2, '0'), '经理' || i, 'sales', '杭州', '', '{manager}', '', true, now() FROM generate_series(1, 10) i;
INSERT INTO directory_people (id, name, department, region, supervisor_id, roles, wecom_user_id, active, updated_at)
SELECT 'BR-' || lpad(i::text, 3, '0'), '代表' || i, 'sales', '杭州', 'BM-' || lpad((i % 10 + 1)::text, 2, '0'), '{rep}', '', true, now()
FROM generate_series(1, 100) i;
-- Joints: a line nobody has bought yet, so each recommended customer gets a row for it.
INSERT INTO directory_products (id, name, product_line, active) VALUES
  ('SP-1', '脊柱一号', 'spine', true), ('SP-2', '脊柱二号', 'spine', true), ('TR-1', '创伤一号', 'trauma', true), ('TR-2', '创伤二号', 'trauma', true),
  ('JT-1', '关节一号', 'joints', true);
INSERT INTO directory_customers (id, name, region, level, owner_rep_id, grade, updated_at)
SELECT 'BC-' || lpad(i::text, 6, '0'), '压测医院' || i, (ARRAY['杭州', '宁波', '绍兴', '温州', '嘉兴'])[i % 5 + 1], '三级甲等',
       'BR-' || lpad((i % 100 + 1)::text, 3, '0'), 'B', now()
FROM generate_series(1, $customers) i;

-- Secondary indexes are built after the load (the primary keys stay, filled in key order).
CREATE TEMP TABLE saved_indexes AS
  SELECT indexname, indexdef FROM pg_indexes
  WHERE tablename IN ('purchases', 'trials', 'academic_participations') AND indexname NOT LIKE '%_pkey';
DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT indexname FROM saved_indexes LOOP EXECUTE 'DROP INDEX ' || quote_ident(r.indexname); END LOOP;
END \$\$;
INSERT INTO purchases (source_row_id, customer_id, product_line, amount_fen, day, recorded_at)
SELECT 'P' || lpad(i::text, 9, '0'), 'BC-' || lpad((1 + (random() * ($customers - 1))::int)::text, 6, '0'),
       (ARRAY['spine', 'trauma'])[1 + (i % 2)], 100000 + (random() * 9900000)::int8, current_date - (random() * 182)::int, now()
FROM generate_series(1, ($facts * 4 / 10)) i;
INSERT INTO trials (source_row_id, customer_id, product_id, day, recorded_at)
SELECT 'T' || lpad(i::text, 9, '0'), 'BC-' || lpad((1 + (random() * ($customers - 1))::int)::text, 6, '0'),
       (ARRAY['SP-1', 'SP-2', 'TR-1', 'TR-2'])[1 + (i % 4)], current_date - (random() * 182)::int, now()
FROM generate_series(1, ($facts * 3 / 10)) i;
INSERT INTO academic_participations (source_row_id, customer_id, event_name, day, recorded_at)
SELECT 'A' || lpad(i::text, 9, '0'), 'BC-' || lpad((1 + (random() * ($customers - 1))::int)::text, 6, '0'),
       '学术会议' || (i % 50), current_date - (random() * 182)::int, now()
FROM generate_series(1, ($facts - $facts * 4 / 10 - $facts * 3 / 10)) i;
DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT indexdef FROM saved_indexes LOOP EXECUTE r.indexdef; END LOOP;
END \$\$;
VACUUM ANALYZE;
SQL
echo "seeded in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s: $(sql -Atc "SELECT pg_size_pretty(pg_database_size('fieldwork_scoring'))")" >&2

# The floor: the three components for every customer in one query, as a person
# would write it by hand (sums and counts over the 3-month window, joined).
floor_sql="WITH bounds AS (SELECT (current_date - interval '3 months')::date AS start, current_date AS stop)
SELECT c.id, coalesce(p.amount, 0), coalesce(t.n, 0), coalesce(a.n, 0)
FROM directory_customers c
LEFT JOIN (SELECT customer_id, sum(amount_fen) AS amount FROM purchases, bounds WHERE day > start AND day <= stop GROUP BY customer_id) p ON p.customer_id = c.id
LEFT JOIN (SELECT customer_id, count(*) AS n FROM trials, bounds WHERE day > start AND day <= stop GROUP BY customer_id) t ON t.customer_id = c.id
LEFT JOIN (SELECT customer_id, count(*) AS n FROM academic_participations, bounds WHERE day > start AND day <= stop GROUP BY customer_id) a ON a.customer_id = c.id"
# time_sql SQL: seconds for psql to run it and read every row.
time_sql() {
  local t0 t1
  t0=$(date +%s.%N)
  sql -Atc "$1" > /dev/null
  t1=$(date +%s.%N)
  awk -v s="$t0" -v e="$t1" 'BEGIN { printf "%.3f", e - s }'
}
floor_once() { time_sql "$floor_sql"; }

# The run's own component queries (per fact table: the window's sum or count and
# the last active day for the zero streaks), three connections at once as the
# run does it, timed the same way: the SQL share of the run.
component_sql() {
  echo "SELECT c.id, coalesce(x.measure, 0), coalesce(x.last, (SELECT max(day) FROM $1 y WHERE y.customer_id = c.id AND y.day <= current_date - interval '3 months'))::text
FROM directory_customers c
LEFT JOIN (SELECT customer_id, $2 AS measure, max(day) AS last FROM $1 WHERE day > current_date - interval '3 months' AND day <= current_date GROUP BY customer_id) x ON x.customer_id = c.id
ORDER BY c.id"
}
components_at_once() {
  local t0 t1
  t0=$(date +%s.%N)
  sql -Atc "$(component_sql purchases 'sum(amount_fen)')" > /dev/null &
  sql -Atc "$(component_sql trials 'count(*)')" > /dev/null &
  sql -Atc "$(component_sql academic_participations 'count(*)')" > /dev/null &
  wait
  t1=$(date +%s.%N)
  awk -v s="$t0" -v e="$t1" 'BEGIN { printf "%.3f", e - s }'
}
floor_once > /dev/null   # warm the cache, as the service's run will find it
floor_a=$(floor_once)
echo "floor (hand-written SQL, all $customers customers' components, rows sent to the client): $floor_a s"
echo "the run's three component queries at once (psql, three connections): $(components_at_once) s"

hwm() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status"; }
rss() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status"; }
before_hwm=$(hwm)
run=$("$bin/fieldwork-bench-scoring" --target 127.0.0.1:$port --secret "$secret" --signing-key "$bench_keys/signing-key.pem" --phase run --customers "$customers")
echo "$run"
after_hwm=$(hwm)
echo "run phases (ms, from the service log): $(grep -o 'phases_ms=[^]]*\]*' /tmp/fieldwork-bench-scoring.log | tail -1 | sed 's/^phases_ms=//')"
floor_b=$(floor_once)
echo "floor again after the run: $floor_b s"
run_s=$(echo "$run" | sed -n 's/^bench-scoring run s: \([0-9.]*\)/\1/p')
awk -v r="$run_s" -v a="$floor_a" -v b="$floor_b" 'BEGIN { f = (a < b ? a : b); printf "ratio run / floor: %.2f (run %.2f s, floor %.2f s; target 1.5)\n", r / f, r, f }'
echo "scoring service memory: peak RSS (VmHWM) ${after_hwm} MiB after the run (${before_hwm} MiB before it); RSS now $(rss) MiB"
echo "stored: $(sql -Atc "SELECT count(*) FROM customer_health") health rows, $(sql -Atc "SELECT count(*) FROM warnings") warnings, $(sql -Atc "SELECT count(*) FROM recommendations") recommendations, $(sql -Atc "SELECT count(*) FROM outbox") outbox rows"

"$bin/fieldwork-bench-scoring" --target 127.0.0.1:$port --secret "$secret" --signing-key "$bench_keys/signing-key.pem" --phase events --events "$events" --concurrency 32 --customers "$customers"
echo "stalled-customer firings recorded: $(sql -Atc "SELECT count(*) FROM rule_firings WHERE rule_id = 'stalled_customer'")"

#!/usr/bin/env bash
# `make bench-workflows`: against a release build of the workflows service with
# 1 000 000 open cards of which 1 000 are overdue, prints the escalation sweep's
# query plan (it must be an index scan) and the time of a sweep (SWEEPS of them,
# each finding its own 1 000 overdue cards among the million, so the figure is a
# median, not one sample); then
# CreateRequest + AcknowledgeCard throughput over TCP at concurrency 32, the
# PostgreSQL ceiling for the same writes (pgbench via deploy/local/ceilings/pg-ceiling)
# in the same run, and the ratio. Figures, not a pass/fail test.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/bench-lib.sh
pg_port=${FIELDWORK_BENCH_PG_PORT:-15435}
pg_dir=/tmp/fieldwork-bench-workflows-pg-$pg_port
pairs=${PAIRS:-3000}
open_cards=${OPEN_CARDS:-1000000}
overdue=${OVERDUE:-1000}
sweeps=${SWEEPS:-5}
ceiling=${PG_CEILING:-deploy/local/ceilings/pg-ceiling}
secret=bench-secret-0123456789abcdefghijklmnop
port=7192

bench_start_postgres "$pg_dir" "$pg_port" fieldwork_workflows
sql() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d fieldwork_workflows "$@"; }

bench_build

# Two subscribers on a closed port: each event is written as two outbox rows, as in production.
# The scheduled sweep is pushed out of the way; the benchmark runs it by RunJob.
FIELDWORK_WORKFLOWS_DATABASE_URL=postgres://fieldwork_workflows:bench-password@127.0.0.1:$pg_port/fieldwork_workflows \
FIELDWORK_WORKFLOWS_DATABASE_POOL_SIZE=32 FIELDWORK_WORKFLOWS_PORT=$port FIELDWORK_WORKFLOWS_METRICS_PORT=-1 \
FIELDWORK_WORKFLOWS_JWT_SECRET=$secret FIELDWORK_WORKFLOWS_JWKS_FILE=$bench_keys/jwks.json FIELDWORK_WORKFLOWS_LOG_LEVEL=warning FIELDWORK_WORKFLOWS_ESCALATION_INTERVAL_SECONDS=86400 \
FIELDWORK_WORKFLOWS_SUBSCRIBERS=notifications=127.0.0.1:9,scoring=127.0.0.1:9 \
  "$bin/fieldwork-workflows" >/tmp/fieldwork-bench-workflows.log 2>&1 &
pid=$!
bench_wait_port $port
bench_wait_migrated /tmp/fieldwork-bench-workflows.log

echo "seeding $open_cards open cards ($overdue overdue for each of $sweeps sweeps)…" >&2
started=$(date +%s.%N)
# Group g (1…sweeps) of the overdue cards fell due (sweeps − g + 1) hours before
# seeded_at; sweep g runs as of half an hour after its group fell due, when the
# earlier groups have already been raised a level (next due 24 h later).
seeded_at=$(sql -Atc "SELECT extract(epoch FROM date_trunc('second', now()))::bigint")
sql <<SQL
INSERT INTO directory_people (id, name, department, region, supervisor_id, roles, wecom_user_id, active, updated_at) VALUES
  ('BENCH-REP', '压测代表', 'sales', '杭州', '', '{rep}', '', true, now()),
  ('BENCH-MK', '压测市场', 'marketing', '杭州', 'BENCH-DIR', '{dept_head}', '', true, now()),
  ('BENCH-DIR', '压测总监', 'management', '杭州', '', '{director}', '', true, now());
INSERT INTO directory_departments (code, name, head_person_id) VALUES
  ('marketing', '市场部', 'BENCH-MK'), ('logistics', '物流部', 'BENCH-MK'), ('compliance', '合规部', 'BENCH-MK');
INSERT INTO directory_customers (id, name, region, level, owner_rep_id, grade, updated_at)
  VALUES ('BENCH-C', '压测医院', '杭州', '三级甲等', 'BENCH-REP', 'A', now());
INSERT INTO requests (id, template_id, template_version, origin, requester_id, customer_id, variables, status, created_at)
  VALUES ('00000000-0000-0000-0000-00000000b0b0', 'surgery-support', 1, 'bench-seed', 'BENCH-REP', 'BENCH-C', '{}', 'OPEN', now());
INSERT INTO cards (id, number, request_id, department, title, description, status, sla_hours, due_at, next_escalation_at, created_at, updated_at)
SELECT gen_random_uuid(), 'BS-' || lpad(i::text, 7, '0'), '00000000-0000-0000-0000-00000000b0b0',
       (ARRAY['marketing', 'logistics', 'compliance'])[i % 3 + 1], '压测卡片 ' || i, '', 'OPEN', 24, due, due, due - interval '24 hours', now()
FROM generate_series(1, $open_cards) i,
     LATERAL (SELECT CASE WHEN i <= $overdue * $sweeps
                          THEN to_timestamp($seeded_at) - ($sweeps - (i - 1) / $overdue) * interval '1 hour'
                          ELSE now() + (i % 720 + 1) * interval '1 hour' END AS due) d;
-- A table that has grown to a million cards has been vacuumed; without this the
-- sweeps would race the autovacuum the seed itself sets off.
VACUUM (ANALYZE) cards;
ANALYZE;
SQL
echo "seeded in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s" >&2

echo "escalation sweep plan (one batch of the claim-and-raise UPDATE, as the service runs it; rolled back):"
plan=$(sql -At <<'SQL'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
WITH due AS (
    SELECT ctid FROM cards WHERE next_escalation_at <= now()
    ORDER BY next_escalation_at LIMIT 1000
    FOR UPDATE SKIP LOCKED
)
UPDATE cards c SET escalation_level = c.escalation_level + 1, escalated_at = now(), updated_at = now(),
    next_escalation_at = CASE WHEN c.escalation_level + 1 < 2 THEN c.due_at + make_interval(secs => 86400.0 * (c.escalation_level + 1)) END
FROM due WHERE c.ctid = due.ctid
RETURNING c.id, c.number, c.department, c.escalation_level;
ROLLBACK;
SQL
)
echo "$plan" | sed 's/^/  /'
if echo "$plan" | grep -q "Index Scan using cards_escalation_due" && ! echo "$plan" | grep -q "Seq Scan on cards"; then
  echo "plan: index scan on cards_escalation_due (no sequential scan)"
else
  echo "plan: WARNING — the sweep does not use cards_escalation_due"
fi

bench=$("$bin/fieldwork-bench-workflows" --target 127.0.0.1:$port --secret "$secret" --signing-key "$bench_keys/signing-key.pem" --pairs "$pairs" --concurrency 32 \
  --sweeps "$sweeps" --seeded-at "$seeded_at")
echo "$bench"

# The same writes straight into PostgreSQL, statement for statement as the
# service sends them: CreateRequest's transaction (template and directory reads;
# the request, its audit entry and two outbox rows; then the counter step for
# three numbers and the three cards, their timeline entries, audit entries and
# six outbox rows in one statement each), the read-back, then AcknowledgeCard's.
script=$(mktemp)
cat > "$script" <<'SQL'
\set n random(1, 1000000000000)
BEGIN;
SELECT id, version, name, number_prefix, trigger_event_type, cards::text, active, updated_at FROM request_templates
  WHERE id = 'surgery-support' ORDER BY version DESC LIMIT 1;
SELECT name, region FROM directory_customers WHERE id = 'BENCH-C';
SELECT name FROM directory_people WHERE id = 'BENCH-REP';
INSERT INTO requests (id, template_id, template_version, origin, requester_id, customer_id, variables, status, created_at)
  VALUES (md5(:n::text)::uuid, 'surgery-support', 1, 'manual:' || :n, 'BENCH-REP', 'BENCH-C', '{"products": "压测产品"}', 'OPEN', now());
INSERT INTO audit_log (id, at, actor_person_id, actor_role, entity_type, entity_id, action, changes)
  VALUES (gen_random_uuid(), now(), 'BENCH-REP', 'rep', 'request', md5(:n::text), 'create', '[{"field":"template","before":"","after":"surgery-support v1"}]');
INSERT INTO outbox (event_id, subscriber, aggregate_id, event_type, payload, created_at, next_attempt_at)
  VALUES (md5(:n::text || 'er')::uuid, 'notifications', 'request:' || :n, 'workflows.RequestCreated', '\x0a', now(), now() + interval '1 day');
INSERT INTO outbox (event_id, subscriber, aggregate_id, event_type, payload, created_at, next_attempt_at)
  VALUES (md5(:n::text || 'er')::uuid, 'scoring', 'request:' || :n, 'workflows.RequestCreated', '\x0a', now(), now() + interval '1 day');
INSERT INTO card_counters (prefix, day, last) VALUES ('PG', to_char(now(), 'YYYYMMDD'), 3)
  ON CONFLICT (prefix, day) DO UPDATE SET last = card_counters.last + 3 RETURNING last;
INSERT INTO cards (id, number, request_id, department, title, description, status, sla_hours, due_at, next_escalation_at, created_at, updated_at)
  SELECT md5(:n::text || d)::uuid, 'PG-' || :n || '-' || d, md5(:n::text)::uuid, d, '跟台 ' || d, '压测', 'OPEN', 24,
         now() + interval '24 hours', now() + interval '24 hours', now(), now()
  FROM unnest(ARRAY['marketing', 'logistics', 'compliance']) d;
INSERT INTO card_timeline (card_id, at, actor_id, kind, text)
  SELECT md5(:n::text || d)::uuid, now(), 'BENCH-REP', 'created', 'PG' FROM unnest(ARRAY['marketing', 'logistics', 'compliance']) d;
INSERT INTO audit_log (id, at, actor_person_id, actor_role, entity_type, entity_id, action, changes)
  SELECT gen_random_uuid(), now(), 'BENCH-REP', 'rep', 'card', md5(:n::text || d), 'create', '[{"field":"status","before":"","after":"OPEN"}]'::jsonb
  FROM unnest(ARRAY['marketing', 'logistics', 'compliance']) WITH ORDINALITY AS x (d, o) ORDER BY o;
INSERT INTO outbox (event_id, subscriber, aggregate_id, event_type, payload, created_at, next_attempt_at)
  SELECT md5(:n::text || 'e' || d)::uuid, s, 'card:' || md5(:n::text || d), 'workflows.CardCreated', '\x0a', now(), now()
  FROM unnest(ARRAY['marketing', 'logistics', 'compliance']) d, unnest(ARRAY['notifications', 'scoring']) s;
COMMIT;
SELECT id, template_id, status FROM requests WHERE id = md5(:n::text)::uuid;
SELECT id, number, status FROM cards WHERE request_id = md5(:n::text)::uuid ORDER BY number;
BEGIN;
SELECT c.id, c.status, r.requester_id FROM cards c JOIN requests r ON r.id = c.request_id
  WHERE c.id = md5(:n::text || 'marketing')::uuid FOR UPDATE OF c;
INSERT INTO card_timeline (card_id, at, actor_id, kind, text, changes) VALUES (md5(:n::text || 'marketing')::uuid, now(), 'BENCH-MK', 'acknowledged', '', '[]');
INSERT INTO audit_log (id, at, actor_person_id, actor_role, entity_type, entity_id, action, changes)
  VALUES (gen_random_uuid(), now(), 'BENCH-MK', 'rep', 'card', md5(:n::text || 'marketing'), 'acknowledge', '[]');
UPDATE cards SET first_response_at = now(), next_escalation_at = NULL WHERE id = md5(:n::text || 'marketing')::uuid;
SELECT id, number, status, first_response_at FROM cards WHERE id = md5(:n::text || 'marketing')::uuid;
COMMIT;
SQL
ceiling_line=$(bash "$ceiling" --script "$script" --clients 32 --seconds 10 -- -h 127.0.0.1 -p "$pg_port" -U postgres fieldwork_workflows)
rm -f "$script"
echo "$ceiling_line"
tps=$(echo "$ceiling_line" | sed -n 's/^pg-ceiling tx\/s: \([0-9.]*\).*/\1/p')
pairs_s=$(echo "$bench" | sed -n 's/^bench-workflows pairs\/s at 32: \([0-9.]*\)/\1/p')
awk -v s="$pairs_s" -v p="$tps" 'BEGIN { printf "ratio at concurrency 32: %.2f (service %.0f pairs/s, PostgreSQL %.0f pairs/s; target 0.5)\n", s / p, s, p }'

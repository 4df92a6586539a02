#!/usr/bin/env bash
# `make bench-notifications`: 10 000 CardCreated events fanned out to the inboxes
# of 50 people, offered open-loop at 500 events/s to a release build of the
# notifications service the way an upstream relay delivers them (`Deliver`);
# prints inbox items/s and the lag p50/p90/p99 (target p99 ≤ 200 ms). Then the
# PostgreSQL ceiling for the same per-event writes (pgbench via
# deploy/local/ceilings/pg-ceiling) in the same run, and the ratio. Figures, not a test.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/bench-lib.sh
pg_port=${FIELDWORK_BENCH_PG_PORT:-15436}
pg_dir=/tmp/fieldwork-bench-notifications-pg-$pg_port
events=${EVENTS:-10000}
rate=${RATE:-500}
people=${PEOPLE:-50}
ceiling=${PG_CEILING:-deploy/local/ceilings/pg-ceiling}
secret=bench-secret-0123456789abcdefghijklmnop
port=7194

bench_start_postgres "$pg_dir" "$pg_port" fieldwork_notifications
sql() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d fieldwork_notifications "$@"; }

bench_build

FIELDWORK_NOTIFICATIONS_DATABASE_URL=postgres://fieldwork_notifications:bench-password@127.0.0.1:$pg_port/fieldwork_notifications \
FIELDWORK_NOTIFICATIONS_DATABASE_POOL_SIZE=32 FIELDWORK_NOTIFICATIONS_PORT=$port FIELDWORK_NOTIFICATIONS_METRICS_PORT=-1 \
FIELDWORK_NOTIFICATIONS_JWT_SECRET=$secret FIELDWORK_NOTIFICATIONS_JWKS_FILE=$bench_keys/jwks.json FIELDWORK_NOTIFICATIONS_LOG_LEVEL=warning \
  "$bin/fieldwork-notifications" >/tmp/fieldwork-bench-notifications.log 2>&1 &
pid=$!
bench_wait_port $port
bench_wait_migrated /tmp/fieldwork-bench-notifications.log

bench=$("$bin/fieldwork-bench-notifications" --target 127.0.0.1:$port --secret "$secret" --signing-key "$bench_keys/signing-key.pem" --events "$events" --rate "$rate" --people "$people")
echo "$bench"
echo "inbox rows: $(sql -Atc "SELECT count(*) FROM inbox_items WHERE event_type = 'workflows.CardCreated' AND title LIKE '新任务卡 GT-%'")"

# One event's writes straight into PostgreSQL, statement for statement as the
# service sends them: the inbox (dedupe) row, the directory read, the audit
# entry and the 50 people's inbox rows (routes and templates come from the
# service's one-second cache).
script=$(mktemp)
cat > "$script" <<'SQL'
\set n random(1, 1000000000000)
BEGIN;
INSERT INTO inbox (event_id, event_type, source, received_at) VALUES (md5(:n::text)::uuid, 'workflows.CardCreated', 'workflows', now()) ON CONFLICT DO NOTHING RETURNING event_id;
SELECT id FROM directory_people WHERE active AND department = 'marketing';
INSERT INTO audit_log (id, at, actor_person_id, actor_role, entity_type, entity_id, action, changes, reason, request_id)
  VALUES (gen_random_uuid(), now(), 'svc-workflows', 'service', 'event', md5(:n::text), 'inbox_delivered', '[{"field":"recipients","before":"","after":"BENCH"}]', '', md5(:n::text));
INSERT INTO inbox_items (id, person_id, event_id, event_type, title, body, link, created_at)
  SELECT gen_random_uuid(), p, md5(:n::text)::uuid, 'workflows.CardCreated', '新任务卡 PG', '压测', 'fieldwork://cards/x', now()
  FROM unnest(ARRAY(SELECT id FROM directory_people WHERE department = 'marketing' ORDER BY id)) WITH ORDINALITY AS u (p, n) ORDER BY n
  ON CONFLICT (event_id, person_id) DO NOTHING;
COMMIT;
SQL
ceiling_line=$(bash "$ceiling" --script "$script" --clients 32 --seconds 10 -- -h 127.0.0.1 -p "$pg_port" -U postgres fieldwork_notifications)
rm -f "$script"
echo "$ceiling_line"
tps=$(echo "$ceiling_line" | sed -n 's/^pg-ceiling tx\/s: \([0-9.]*\).*/\1/p')
items=$(echo "$bench" | sed -n 's/^bench-notifications inbox items\/s: \([0-9.]*\)/\1/p')
awk -v i="$items" -v t="$tps" -v p="$people" -v r="$rate" 'BEGIN {
  printf "PostgreSQL ceiling: %.0f events/s (%.0f inbox items/s); the service was offered %.0f events/s and kept up with %.0f%% of it; the ceiling is %.1fx the offered rate\n",
    t, t * p, r, 100 * i / (r * p), t / r }'

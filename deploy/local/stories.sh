#!/usr/bin/env bash
# `make stories`: SPEC §6 stories 1, 2, 5, 7 and 8, an approval chain, health scores
# and the indicators, played step by step with fieldctl against services on the
# real clock (`make run` shows the simulated months instead).
source "$(dirname "$0")/services.sh"
start_fieldwork

token() { fieldctl token --person "$1" --role "${@:2}"; }
admin=$(token A0001 admin --department management)
rep=$(token E1001 rep --department sales --region 杭州)

step "Directory: CSV import (all-or-nothing, errors by line)"
FIELDWORK_TOKEN=$admin fieldctl import-csv --kind people deploy/local/demo/people.csv
FIELDWORK_TOKEN=$admin fieldctl import-csv --kind customers deploy/local/demo/customers.csv
FIELDWORK_TOKEN=$admin fieldctl import-csv --kind products deploy/local/demo/products.csv
for department in "marketing 市场部 MK01" "logistics 物流部 LG01" "compliance 合规部 CP01" "finance 财务部 FN01" \
                  "management 总经办 GM01" "sales 销售部 M2001" "operations 运营部 O4001"; do
  set -- $department
  FIELDWORK_TOKEN=$admin fieldctl upsert-department "$1" "$2" --head "$3" >/dev/null
done
printf 'id,name,product_line\nBAD ID,坏行,spine\n' > "$run_dir/bad-products.csv"
FIELDWORK_TOKEN=$admin fieldctl import-csv --kind products "$run_dir/bad-products.csv" || true
FIELDWORK_TOKEN=$admin fieldctl list-customers

step "Story 1: the rep scans 浙一's code inside the fence"
code=$(FIELDWORK_TOKEN=$admin fieldctl issue-code --customer H-ZJ-001)
echo "check-in code: ${code:0:48}…"
visit=$(FIELDWORK_TOKEN=$rep fieldctl check-in --code "$code" --lat 30.2530 --lon 120.1785 --accuracy 8 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
next_week=$(TZ=Asia/Shanghai date -d '+7 days' +%F)
echo "visit $visit; submitting 2 products, objection PRICE, surgery support on $next_week"
FIELDWORK_TOKEN=$rep fieldctl submit-visit --visit "$visit" --product SP-NEW-01 TR-201 --objection PRICE \
  --note "价格高于竞品约8%" --department 骨科 --support-date "$next_week" --support-department 骨科 --checkout 30.2529,120.1783

step "Other check-ins: no GPS → VOID; 2 km away → OUT_OF_RANGE"
FIELDWORK_TOKEN=$rep fieldctl check-in --code "$(FIELDWORK_TOKEN=$admin fieldctl issue-code --customer H-ZJ-002)"
FIELDWORK_TOKEN=$rep fieldctl check-in --code "$code" --lat 30.2707 --lon 120.1780 --request-id far-away-demo || true

step "Waiting for the cards to reach the inboxes"
for _ in $(seq 1 40); do
  n=$(FIELDWORK_TOKEN=$admin fieldctl inbox --person LG02 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("items", [])))')
  [ "$n" -ge 1 ] && break
  sleep 0.25
done

step "visits: the rep's records"
FIELDWORK_TOKEN=$rep fieldctl list-visits
FIELDWORK_TOKEN=$admin fieldctl verify-watermark "$visit"
step "workflows: one request, three numbered cards"
FIELDWORK_TOKEN=$admin fieldctl list-requests
FIELDWORK_TOKEN=$admin fieldctl list-cards
step "notifications: each department member's inbox"
for person in MK01 MK02 LG01 LG02 CP01 CP02; do
  echo "-- $person"
  FIELDWORK_TOKEN=$(token "$person" ops) fieldctl inbox
done
step "audit: the visit's trail in the visits service"
FIELDWORK_TOKEN=$admin fieldctl audit --service visits --entity-type visit --entity-id "$visit"

step "Story 2: logistics answers at once; marketing and compliance stay silent"
card_of() { FIELDWORK_TOKEN=$admin fieldctl list-cards --department "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["cards"][0]["number"])'; }
logistics_card=$(card_of logistics); marketing_card=$(card_of marketing)
lg02=$(token LG02 ops --department logistics)
FIELDWORK_TOKEN=$lg02 fieldctl ack "$logistics_card"
# A small PNG standing in for the photo of the prepared instrument kit.
python3 - "$run_dir/instrument-kit.png" <<'PY'
import struct, sys, zlib
def chunk(kind, data): return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = b"".join(b"\0" + b"".join(bytes((x * 8, y * 8, 128)) for x in range(32)) for y in range(32))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
FIELDWORK_TOKEN=$lg02 fieldctl upload "$logistics_card" "$run_dir/instrument-kit.png"
FIELDWORK_TOKEN=$lg02 fieldctl set-status "$logistics_card" IN_PROGRESS
echo "the escalation sweep as of 25 h and 49 h from now (RunJob as_of):"
FIELDWORK_TOKEN=$admin fieldctl run-job --service workflows --name escalation --as-of "$(date -u -d '+25 hours' +%FT%TZ)"
FIELDWORK_TOKEN=$admin fieldctl run-job --service workflows --name escalation --as-of "$(date -u -d '+49 hours' +%FT%TZ)"
FIELDWORK_TOKEN=$admin fieldctl list-cards
FIELDWORK_TOKEN=$admin fieldctl timeline "$marketing_card"
sleep 1   # the relay delivers the escalations to notifications
for person in MK01 D3001; do
  echo "-- $person"
  FIELDWORK_TOKEN=$(token "$person" ops) fieldctl inbox
done
FIELDWORK_TOKEN=$(token D3001 director --department management --region 杭州) fieldctl response-metrics

step "Approval chain: a 1 200 000 CNY contract needs the manager, director, finance and the GM"
approval=$(FIELDWORK_TOKEN=$rep fieldctl submit-approval --subject "浙一 脊柱产品年度合同" --amount 1200000 --product-line spine \
  --customer H-ZJ-001 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "the director tries first, out of order:"
FIELDWORK_TOKEN=$(token D3001 director --department management --region 杭州) fieldctl decide "$approval" approve || true
FIELDWORK_TOKEN=$(token M2001 manager --department sales --region 杭州) fieldctl decide "$approval" approve --comment "价格已核"
FIELDWORK_TOKEN=$(token D3001 director --department management --region 杭州) fieldctl decide "$approval" approve --comment "同意"
FIELDWORK_TOKEN=$(token FN01 dept_head --department finance) fieldctl decide "$approval" approve --comment "账期 60 天可接受"
FIELDWORK_TOKEN=$(token GM01 director --department management) fieldctl decide "$approval" approve

step "Scoring: facts from the ERP and trial/event lists, then the health score (SPEC §4.2)"
ops=$(token O4001 ops --department operations)
ago() { TZ=Asia/Shanghai date -d "-$1 days" +%F; }
fact() { FIELDWORK_TOKEN=$ops fieldctl record-fact "$@" >/dev/null; }
fact purchase --id ERP-0001 --customer H-ZJ-001 --product-line spine --amount 68000 --date "$(ago 12)"
fact purchase --id ERP-0002 --customer H-ZJ-001 --product-line trauma --amount 42000 --date "$(ago 40)"
# The ERP's Excel export, saved as CSV: thousands separators, ¥ and slashed dates are fine.
cat > "$run_dir/erp-purchases.csv" <<CSV
source_row_id,customer_id,product_line,amount,date
ERP-0003,H-ZJ-002,spine,"95,000.00",$(ago 20 | tr - /)
ERP-0004,H-NB-001,trauma,¥30000,$(ago 8)
ERP-0005,H-SX-001,spine,12000,$(ago 60)
ERP-0006,H-SX-001,spine,250000,$(ago 200)
CSV
FIELDWORK_TOKEN=$ops fieldctl import-csv --kind purchases "$run_dir/erp-purchases.csv"
FIELDWORK_TOKEN=$ops fieldctl import-csv --kind purchases "$run_dir/erp-purchases.csv"
echo "(importing the same file again changes nothing; ERP-0006 is outside the 3-month window)"
for n in 1 2 3; do fact trial --id TRIAL-00$n --customer H-ZJ-001 --product SP-NEW-01 --date "$(ago $((n * 9)))"; done
fact trial --id TRIAL-004 --customer H-ZJ-002 --product SP-NEW-01 --date "$(ago 30)"
for n in 1 2 3 4; do fact academic --id EVT-00$n --customer H-SX-002 --event "脊柱微创学术沙龙" --date "$(ago $((n * 14)))"; done
fact academic --id EVT-005 --customer H-ZJ-001 --event "创伤骨科论坛" --date "$(ago 25)"
FIELDWORK_TOKEN=$ops fieldctl record-fact purchase --id ERP-0001 --customer H-ZJ-001 --product-line spine --amount 68000 --date "$(ago 12)"
echo "(the same source row again changes nothing)"
FIELDWORK_TOKEN=$admin fieldctl run-scoring
FIELDWORK_TOKEN=$(token M2001 manager --department sales --region 杭州) fieldctl customer-health
echo "red warnings (2 completed weeks without purchases, trials or academic events; raised once per streak, to the rep and manager):"
FIELDWORK_TOKEN=$(token M2001 manager --department sales --region 杭州) fieldctl warnings
FIELDWORK_TOKEN=$admin fieldctl model

step "Story 7: three visits to 浙二 without reaching QUOTED → the rep gets the talk-track package"
code2=$(FIELDWORK_TOKEN=$admin fieldctl issue-code --customer H-ZJ-002)
for n in 1 2 3; do
  v=$(FIELDWORK_TOKEN=$rep fieldctl check-in --code "$code2" --lat 30.2568 --lon 120.1737 --accuracy 10 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  FIELDWORK_TOKEN=$rep fieldctl submit-visit --visit "$v" --product SP-NEW-01 --objection QUALIFICATION --note "第 $n 次：资质文件待补" >/dev/null
  echo "visit $n to 浙二 submitted"
done
for _ in $(seq 1 50); do
  FIELDWORK_TOKEN=$admin fieldctl firings --rule stalled_customer --json | grep -q H-ZJ-002 && break
  sleep 0.2
done
FIELDWORK_TOKEN=$(token M2001 manager --department sales --region 杭州) fieldctl firings --rule stalled_customer
echo "-- E1001's inbox"
FIELDWORK_TOKEN=$(token E1001 rep --department sales) fieldctl inbox

step "Story 8: 杭州's payment cycle grows from 45 to 58 days → the director gets five contracts' term changes"
for n in 1 2 3 4 5 6; do
  FIELDWORK_TOKEN=$ops fieldctl record-contract contract --id "HT-2026-00$n" --customer H-ZJ-00$((n % 2 + 1)) --amount $((n * 150000)) \
    --terms 45 --date "$(ago $((200 - n)))" >/dev/null
done
for n in 2 3 4 5 6; do
  FIELDWORK_TOKEN=$ops fieldctl record-contract revise-terms --id "HT-2026-00$n" --terms 60 --date "$(ago 90)" --reason "医院资金紧张，账期放宽"
done
last_month=$(( $(TZ=Asia/Shanghai date +%-d) + 5 ))   # a day in the previous month
pay() { FIELDWORK_TOKEN=$ops fieldctl record-contract payment --id "$1" --contract "$2" --amount 80000 --invoiced "$(ago $(($3 + $4)))" --paid "$(ago "$3")" >/dev/null; }
pay PAY-001 HT-2026-001 "$last_month" 44; pay PAY-002 HT-2026-002 "$last_month" 46   # last month: 45 days on average
pay PAY-003 HT-2026-003 0 57; pay PAY-004 HT-2026-004 0 59                           # this month: 58 days
FIELDWORK_TOKEN=$admin fieldctl run-scoring
FIELDWORK_TOKEN=$admin fieldctl rules
drift=$(FIELDWORK_TOKEN=$admin fieldctl firings --rule payment_cycle_drift --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["firings"][0]["id"])')
FIELDWORK_TOKEN=$(token D3001 director --department management --region 杭州) fieldctl firings --id "$drift"
echo "-- D3001's inbox"
FIELDWORK_TOKEN=$(token D3001 director --department management --region 杭州) fieldctl inbox

step "Recommendations, their effectiveness and the three hard indicators (SPEC §4.4, §4.6)"
director=$(token D3001 director --department management --region 杭州)
FIELDWORK_TOKEN=$director fieldctl recommendations
echo "a cohort: the nightly run as it would have run 45 days ago (RunJob as_of), then what its recommendations became:"
FIELDWORK_TOKEN=$admin fieldctl run-job --service scoring --name scoring --as-of "$(date -u -d '-45 days' +%FT%TZ)"
FIELDWORK_TOKEN=$director fieldctl effectiveness --cohort "$(ago 45)"
FIELDWORK_TOKEN=$director fieldctl indicators

step "Services are up: try e.g."
cat <<TXT
  export FIELDWORK_SIGNING_KEY=$FIELDWORK_SIGNING_KEY   # this machine's development key (fieldctl dev-keys)
  export FIELDWORK_TOKEN=\$($bin/fieldctl token --person A0001 --role admin)
  $bin/fieldctl list-cards
  curl -s 127.0.0.1:9101/metrics | grep fieldwork_rpc_total
Press Ctrl-C to stop everything.
TXT
keep_running

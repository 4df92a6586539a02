#!/usr/bin/env bash
# `make run`: the reference customer's six months, then the manager's view.
#   1. a throwaway PostgreSQL, the build, the four services as separate processes,
#      each on a simulated business clock (SIMULATED_CLOCK=on, scheduled jobs off:
#      the simulation runs every job for every day through RunJob(as_of));
#   2. fieldwork-demo plays 26 weeks through the public RPCs only (same seed, same months);
#   3. prints the manager's view and keeps everything up until Ctrl-C.
# FIELDWORK_SEED and FIELDWORK_WEEKS change the months; `make stories` plays SPEC §6
# step by step with fieldctl instead.
source "$(dirname "$0")/services.sh"
start_fieldwork SIMULATED_CLOCK=on JOBS=off

seed=${FIELDWORK_SEED:-7}
weeks=${FIELDWORK_WEEKS:-26}
step "Six months at a Zhejiang medical-device distributor (seed $seed, $weeks weeks)"
"$bin/fieldwork-demo" simulate --seed "$seed" --weeks "$weeks" --report "$run_dir/manager-view.txt"

step "Services are up (business time stands at the end of the simulation): try e.g."
cat <<TXT
  export FIELDWORK_SIGNING_KEY=$FIELDWORK_SIGNING_KEY   # this machine's development key (fieldctl dev-keys)
  export FIELDWORK_TOKEN=\$($bin/fieldctl token --person D3001 --role director --department management --region 杭州)
  $bin/fieldctl customer-health
  $bin/fieldctl firings --rule payment_cycle_drift
  $bin/fieldctl list-cards --department compliance
  FIELDWORK_TOKEN=\$($bin/fieldctl token --person CP01 --role dept_head --department compliance) $bin/fieldctl inbox
The manager's view is also in $run_dir/manager-view.txt. Press Ctrl-C to stop everything.
TXT
keep_running

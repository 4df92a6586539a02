# Fieldwork — the two commands the README promises, and the code generator.
.PHONY: run stories test build generate check-generated access-table check-access-table deploy-check bench-visits bench-workflows bench-notifications bench-scoring

run:            ## the whole system on this machine: six simulated months, then the manager's view
	deploy/local/run.sh

stories:        ## the whole system on the real clock, SPEC §6 stories played step by step with fieldctl
	deploy/local/stories.sh

test:           ## every test against a real PostgreSQL (started if FIELDWORK_TEST_PG_PORT is unset)
	deploy/local/test.sh

build:
	swift build

generate:       ## regenerate Shared/FieldworkProto from Proto/
	Proto/generate.sh

check-generated: ## fail when the committed generated code differs from a fresh generation
	rm -rf .build/generated-check && Proto/generate.sh .build/generated-check
	diff -r Shared/FieldworkProto .build/generated-check

access-table:   ## regenerate the README's access tables from the rules the services declare
	deploy/local/access-table.sh

check-access-table: ## fail when the README's access tables differ from the declared rules
	deploy/local/access-table.sh --check

deploy-check:   ## render and validate the Kubernetes overlays, lint the Dockerfile, check compose (no engine needed)
	deploy/check.sh

bench-visits:   ## CheckIn+SubmitVisit throughput and latency vs the PostgreSQL ceiling (release build)
	deploy/local/bench-visits.sh

bench-workflows:   ## escalation sweep over 1M open cards (plan + time), card create/update throughput vs the PostgreSQL ceiling
	deploy/local/bench-workflows.sh

bench-scoring:   ## one nightly run over 100 000 customers and 10 000 000 facts vs a hand-written SQL floor; peak memory; rule events/s
	deploy/local/bench-scoring.sh

bench-notifications:   ## 10 000 events to 50 inboxes at 500 events/s: items/s and lag p50/p99 vs the PostgreSQL ceiling
	deploy/local/bench-notifications.sh

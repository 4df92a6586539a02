#!/usr/bin/env bash
# `make access-table`: the README's "Access" tables, generated from the rules the
# services declare (each executable prints its own with --access-table) and
# spliced between the README's access-table markers. With --check, fails when
# the committed README differs instead of writing it.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=${FIELDWORK_BIN_DIR:-$(swift build --show-bin-path)}
for service in visits workflows scoring notifications; do
  [ -x "$bin/fieldwork-$service" ] || swift build --product "fieldwork-$service" >/dev/null
done

tables=$(mktemp)
trap 'rm -f "$tables" "$tables.readme"' EXIT
for service in visits workflows scoring notifications; do
  "$bin/fieldwork-$service" --access-table
  echo
done >"$tables"

# Keep everything outside the markers; replace what is between them.
awk -v tables="$tables" '
  /<!-- access-table:begin -->/ { print; while ((getline line < tables) > 0) print line; skipping = 1; next }
  /<!-- access-table:end -->/ { skipping = 0 }
  !skipping { print }
' README.md >"$tables.readme"

if [ "${1:-}" = "--check" ]; then
  if ! diff -u README.md "$tables.readme"; then
    echo "README's access tables are stale: run 'make access-table'" >&2
    exit 1
  fi
else
  cp "$tables.readme" README.md
fi

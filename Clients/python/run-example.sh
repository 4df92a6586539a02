#!/usr/bin/env bash
# Runs one of the Python examples in this folder with the pinned packages of
# requirements.txt, installed on first use (and whenever the pins change) into
# .build/python-client-venv.
# Usage: Clients/python/run-example.sh fieldwork_client.py|list_services.py [ARGS…]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 fieldwork_client.py|list_services.py [ARGS…]" >&2; exit 2; }
script="$here/$1"
shift
[ -f "$script" ] || { echo "run-example.sh: no example $script" >&2; exit 2; }

venv="$root/.build/python-client-venv"
stamp="$venv/.fieldwork-requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$stamp"; then
  echo "run-example.sh: installing $(tr '\n' ' ' <"$here/requirements.txt")into ${venv#"$root"/}" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$stamp"
fi
exec "$venv/bin/python" "$script" "$@"

#!/usr/bin/env bash
# Creates the project-local virtualenv with schemathesis, the API fuzzer `npm run fuzz:api` runs.
# Idempotent: reinstalls only when the pinned requirements change.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VOLMIRROR_FUZZ_VENV:-$root/.fuzz-venv}"
req="$root/scripts/fuzz-requirements.txt"
stamp="$venv/.requirements"
if [ -x "$venv/bin/schemathesis" ] && cmp -s "$req" "$stamp"; then
  exit 0
fi
echo "volmirror: installing schemathesis into $venv (first run only)" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
cp "$req" "$stamp"

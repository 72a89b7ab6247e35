#!/usr/bin/env bash
# Creates the project-local virtualenv that holds the AWS emulator (moto in server mode).
# Idempotent: reinstalls only when the pinned requirements change.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VOLMIRROR_EMULATOR_VENV:-$root/.emulator-venv}"
req="$root/scripts/emulator-requirements.txt"
stamp="$venv/.requirements"
if [ -x "$venv/bin/moto_server" ] && cmp -s "$req" "$stamp"; then
  exit 0
fi
echo "volmirror: installing the AWS emulator into $venv (first run only)" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
cp "$req" "$stamp"

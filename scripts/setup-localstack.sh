#!/usr/bin/env bash
# Installs the host-mode LocalStack stack into the project (no Docker):
#  - LocalStack's open-source core (S3, SQS) in a Python 3.13 virtualenv,
#  - DynamoDB Local (the control table) from Maven Central, with its native libraries.
# Idempotent: each part reinstalls only when its pin file changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VOLMIRROR_LOCALSTACK_VENV:-$root/.localstack-venv}"
ddb="${VOLMIRROR_DYNAMODB_LOCAL:-$root/.dynamodb-local}"
req="$root/scripts/localstack-requirements.txt"
pom="$root/scripts/dynamodb-local-pom.xml"

python313() {
  if command -v pyenv >/dev/null 2>&1; then
    local v
    v="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$' | sort -V | tail -n 1 || true)"
    if [ -n "$v" ] && [ -x "$(pyenv root)/versions/$v/bin/python3.13" ]; then
      echo "$(pyenv root)/versions/$v/bin/python3.13"
      return
    fi
  fi
  if command -v python3.13 >/dev/null 2>&1; then
    command -v python3.13
    return
  fi
  echo "volmirror: LocalStack needs Python 3.13 (pyenv install 3.13, or python3.13 on PATH)" >&2
  exit 1
}

if ! { [ -x "$venv/bin/python" ] && cmp -s "$req" "$venv/.requirements"; }; then
  echo "volmirror: installing LocalStack (open-source core) into $venv" >&2
  rm -rf "$venv"
  "$(python313)" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$venv/.requirements"
fi

if ! { [ -d "$ddb/lib" ] && cmp -s "$pom" "$ddb/.pom"; }; then
  echo "volmirror: installing DynamoDB Local into $ddb" >&2
  command -v java >/dev/null 2>&1 || { echo "volmirror: DynamoDB Local needs Java 17 or newer" >&2; exit 1; }
  command -v mvn >/dev/null 2>&1 || { echo "volmirror: fetching DynamoDB Local needs Maven (mvn)" >&2; exit 1; }
  rm -rf "$ddb"
  mvn --batch-mode --quiet -f "$pom" dependency:copy-dependencies -DoutputDirectory="$ddb/lib"
  cp "$pom" "$ddb/.pom"
fi

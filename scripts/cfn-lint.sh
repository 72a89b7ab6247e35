#!/usr/bin/env bash
# Lints every CloudFormation template of a synthesized cloud assembly with cfn-lint.
# The linter lives in a project-local virtualenv, created on first use and reinstalled only
# when the pinned requirements change (as scripts/setup-emulator.sh does for the emulator).
# Usage: scripts/cfn-lint.sh [cdk.out]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VOLMIRROR_CFNLINT_VENV:-$root/.cfnlint-venv}"
req="$root/scripts/cfn-lint-requirements.txt"
stamp="$venv/.requirements"
if ! { [ -x "$venv/bin/cfn-lint" ] && cmp -s "$req" "$stamp"; }; then
  echo "volmirror: installing cfn-lint into $venv (first run only)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
fi
assembly="${1:-$root/cdk.out}"
shopt -s nullglob
templates=("$assembly"/*.template.json)
if [ ${#templates[@]} -eq 0 ]; then
  echo "volmirror: no templates in $assembly; run cdk synth first" >&2
  exit 1
fi
"$venv/bin/cfn-lint" --version >&2
# W3005: CDK makes each function depend on its role's policy and, redundantly, on the role
# it already references; harmless, and not ours to change.
"$venv/bin/cfn-lint" --ignore-checks W3005 -- "${templates[@]}"
echo "volmirror: cfn-lint found nothing in ${#templates[@]} templates" >&2

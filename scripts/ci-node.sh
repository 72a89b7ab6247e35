#!/usr/bin/env bash
# Runs the unit and integration tests once on the Node major of the Lambda runtime the CDK
# templates deploy (Runtime.NODEJS_<major>_X in cdk/), so what deploys is what the tests ran
# on. That Node comes from the npm registry as the `node@<major>` package; the project's
# node_modules are reused as they are (nothing in them is native). Extra arguments go to vitest.
# By default: the unit tests and the integration files that drive every handler (API, copy,
# ingest, driver, scheduler) through the local runtime, with faults, roles and statuses. The
# NBD, race and soak files test the emulator and the host side, which do not deploy, and run
# once, on the development Node, in `npm test`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
major="$(grep -rhoE 'Runtime\.NODEJS_[0-9]+_X' cdk | sed -E 's/[^0-9]//g' | sort -un | tail -n 1)"
if [ -z "$major" ]; then
  echo "ci-node: no Runtime.NODEJS_<major>_X found under cdk/" >&2
  exit 1
fi
bash scripts/setup-emulator.sh
echo "ci-node: tests on Node $(npx -y -p "node@$major" node --version) (Lambda runtime nodejs${major}.x)" >&2
if [ "$#" -eq 0 ]; then
  set -- test/unit
  for f in handlers api api-errors replication deltas faults modes scheduler sync-lifecycle \
    sync-commit roles-switchover roles-forced status-member-failure status-alerts; do
    set -- "$@" "test/integration/$f.test.ts"
  done
fi
exec npx -y -p "node@$major" node node_modules/vitest/vitest.mjs run "$@"

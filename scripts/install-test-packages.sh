#!/usr/bin/env bash
# Installs what the tests need beyond Node: Debian's Chromium, which the bench's report screenshot
# test (apps/bench/src/results/report-screenshot.test.ts) drives through playwright-core (no browser
# download: playwright-core uses /usr/bin/chromium). CI runs this before `npm test`.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "test packages: chromium is present."
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  run_as_root=()
else
  run_as_root=(sudo -n)
fi
"${run_as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${run_as_root[@]}" apt-get install -y -qq --no-install-recommends chromium
echo "test packages: installed chromium."

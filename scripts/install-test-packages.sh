#!/usr/bin/env bash
# Installs what the tests need beyond Node, from Debian's packages, and only what is missing:
# - Chromium, which the bench's report screenshot test (apps/bench/src/results/report-screenshot.test.ts)
#   drives through playwright-core (no browser download: playwright-core uses /usr/bin/chromium);
# - Slurm (slurm-wlm 22.05: slurmctld, slurmd, the client commands) and munge, its authentication
#   daemon, for the bench's Slurm test (apps/bench/src/cluster/slurm.test.ts), which starts a
#   single-node cluster of its own as root and stops it again (it needs none of the system's services).
# CI runs this before `npm test`; both tests fail there without their packages and skip elsewhere.
set -euo pipefail

packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
for program in slurmctld slurmd sbatch; do
  command -v "$program" >/dev/null 2>&1 || { packages+=(slurm-wlm); break; }
done
command -v munged >/dev/null 2>&1 || packages+=(munge)

if [ "${#packages[@]}" -eq 0 ]; then
  echo "test packages: chromium, Slurm and munge are present."
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  run_as_root=()
else
  run_as_root=(sudo -n)
fi
"${run_as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${run_as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
echo "test packages: installed ${packages[*]}."

#!/usr/bin/env bash
# Installs what the bench's Slurm test starts (apps/bench/src/cluster/slurm.test.ts): a single-node
# Slurm cluster (Debian's slurm-wlm 22.05: slurmctld, slurmd and the client commands) and munge, its
# authentication daemon. The test starts its own daemons from a generated configuration in a
# temporary folder and stops them again; it needs none of the system's services. Uses apt-get
# where it can (as root, or through sudo without a password prompt); where it cannot, says so and
# exits 0 (the test then skips, and fails where CI is set).
set -uo pipefail

if command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 && command -v sbatch >/dev/null 2>&1 && command -v munged >/dev/null 2>&1; then
  echo "system packages: Slurm and munge are present; the bench's Slurm test can start a cluster."
  exit 0
fi

advice() {
  echo "system packages: $1" >&2
  echo "  The bench's Slurm test needs slurmctld, slurmd, sbatch and munged, and root to start them:" >&2
  echo "  - Debian/Ubuntu: sudo apt-get install -y slurm-wlm munge" >&2
}

if ! command -v apt-get >/dev/null 2>&1; then
  advice "apt-get not found (not Debian/Ubuntu)."
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  run_as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run_as_root=(sudo -n)
else
  advice "installing slurm-wlm and munge needs root (run this script as root or with sudo)."
  exit 0
fi
if "${run_as_root[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${run_as_root[@]}" apt-get install -y -qq --no-install-recommends slurm-wlm munge; then
  echo "system packages: installed slurm-wlm and munge."
else
  advice "apt-get could not install slurm-wlm and munge."
fi
exit 0

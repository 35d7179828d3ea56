#!/usr/bin/env bash
# Installs what the native oneDNN backend (@mlaan/backend-onednn) builds against: libdnnl-dev, g++
# and make. Uses apt-get where it can (as root, or through sudo without a password prompt); where it
# cannot, says how to get the fast backend and exits 0, since every other backend still works.
set -uo pipefail

if [ -f /usr/include/oneapi/dnnl/dnnl.hpp ] || [ -f /usr/include/dnnl.hpp ] || [ -n "${DNNLROOT:-}" ]; then
  echo "system packages: oneDNN is present; the onednn backend will be built."
  exit 0
fi

advice() {
  echo "system packages: $1" >&2
  echo "  Without oneDNN the bench runs on wasm (about 10x slower). To get the fast backend:" >&2
  echo "  - Debian/Ubuntu: sudo apt-get install -y libdnnl-dev g++ make, then npm rebuild @mlaan/backend-onednn" >&2
  echo "  - elsewhere: install oneDNN (e.g. from https://github.com/uxlfoundation/oneDNN releases), set DNNLROOT to it," >&2
  echo "    then npm rebuild @mlaan/backend-onednn (packages/backend-onednn/README.md)" >&2
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
  advice "installing libdnnl-dev needs root (run this script as root or with sudo)."
  exit 0
fi
if "${run_as_root[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${run_as_root[@]}" apt-get install -y -qq --no-install-recommends libdnnl-dev g++ make; then
  echo "system packages: installed libdnnl-dev g++ make."
else
  advice "apt-get could not install libdnnl-dev g++ make (no network, or a release without libdnnl-dev)."
fi
exit 0

#!/usr/bin/env bash
# Installs the system packages two optional backends need, each only where it is missing:
# - oneDNN for the native CPU backend (@mlaan/backend-onednn builds against libdnnl-dev, g++, make);
# - a Vulkan driver for the WebGPU backend (@mlaan/backend-webgpu runs on Dawn, which on Linux
#   needs the Vulkan loader and a driver): where the system has none, Mesa's software device
#   (lavapipe, a CPU emulating a GPU: right for the tests, never for speed). On Debian 12 it comes
#   from bookworm-backports (Mesa 25): Debian 12's own Mesa 22 is too old for Dawn.
# Uses apt-get where it can (as root, or through sudo without a password prompt); where it cannot,
# says how to get each piece and exits 0, since every other backend still works.
set -uo pipefail

onednn_present() {
  [ -f /usr/include/oneapi/dnnl/dnnl.hpp ] || [ -f /usr/include/dnnl.hpp ] || [ -n "${DNNLROOT:-}" ]
}

# Debian 12's Mesa 22 lavapipe registers a Vulkan driver that Dawn cannot use.
debian_mesa_too_old() {
  local version
  version=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null) || return 1
  [ -n "$version" ] && dpkg --compare-versions "$version" lt 23
}

vulkan_present() {
  local dir
  [ -n "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && return 0
  ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' || return 1
  debian_mesa_too_old && return 1
  for dir in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
    compgen -G "$dir/*.json" >/dev/null && return 0
  done
  return 1
}

onednn_advice() {
  echo "system packages: $1" >&2
  echo "  Without oneDNN the bench runs on wasm (about 10x slower). To get the fast backend:" >&2
  echo "  - Debian/Ubuntu: sudo apt-get install -y libdnnl-dev g++ make, then npm rebuild @mlaan/backend-onednn" >&2
  echo "  - elsewhere: install oneDNN (e.g. from https://github.com/uxlfoundation/oneDNN releases), set DNNLROOT to it," >&2
  echo "    then npm rebuild @mlaan/backend-onednn (packages/backend-onednn/README.md)" >&2
}

vulkan_advice() {
  echo "system packages: $1" >&2
  echo "  Without a Vulkan driver the webgpu backend finds no adapter (its tests skip, and fail under CI). To get one:" >&2
  echo "  - a GPU: its vendor's Vulkan driver (NVIDIA's driver ships one; AMD and Intel: mesa-vulkan-drivers)" >&2
  echo "  - no GPU, Debian 12: add the bookworm-backports suite, then" >&2
  echo "    sudo apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1 (packages/backend-webgpu/README.md)" >&2
  echo "  - no GPU, newer Debian or Ubuntu: sudo apt-get install -y mesa-vulkan-drivers libvulkan1" >&2
}

need_onednn=1
need_vulkan=1
if onednn_present; then
  echo "system packages: oneDNN is present; the onednn backend will be built."
  need_onednn=0
fi
if vulkan_present; then
  echo "system packages: a Vulkan driver is present; the webgpu backend can find an adapter."
  need_vulkan=0
fi
[ "$need_onednn" -eq 0 ] && [ "$need_vulkan" -eq 0 ] && exit 0

cannot() {
  [ "$need_onednn" -eq 1 ] && onednn_advice "$1"
  [ "$need_vulkan" -eq 1 ] && vulkan_advice "$1"
  exit 0
}

if ! command -v apt-get >/dev/null 2>&1; then
  cannot "apt-get not found (not Debian/Ubuntu)."
fi
if [ "$(id -u)" -eq 0 ]; then
  run_as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run_as_root=(sudo -n)
else
  cannot "installing system packages needs root (run this script as root or with sudo)."
fi
apt_install() {
  DEBIAN_FRONTEND=noninteractive "${run_as_root[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

# Debian 12 (bookworm): Mesa 25 from backports. The suite is added once, as a deb822 source.
backports_suite=""
if [ "$need_vulkan" -eq 1 ] && [ -r /etc/os-release ] && grep -q '^VERSION_CODENAME=bookworm$' /etc/os-release; then
  backports_suite=bookworm-backports
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
      "${run_as_root[@]}" tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
  fi
fi

if ! "${run_as_root[@]}" apt-get update -qq; then
  cannot "apt-get update failed (no network?)."
fi

if [ "$need_onednn" -eq 1 ]; then
  if apt_install libdnnl-dev g++ make; then
    echo "system packages: installed libdnnl-dev g++ make."
  else
    onednn_advice "apt-get could not install libdnnl-dev g++ make (no network, or a release without libdnnl-dev)."
  fi
fi

if [ "$need_vulkan" -eq 1 ]; then
  suite_option=()
  [ -n "$backports_suite" ] && suite_option=(-t "$backports_suite")
  if apt_install "${suite_option[@]}" mesa-vulkan-drivers libvulkan1 && vulkan_present; then
    echo "system packages: installed Mesa's software Vulkan device (lavapipe${backports_suite:+, from $backports_suite}) for the webgpu backend's tests."
  else
    vulkan_advice "apt-get could not install mesa-vulkan-drivers libvulkan1${backports_suite:+ from $backports_suite}."
  fi
fi
exit 0

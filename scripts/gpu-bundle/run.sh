#!/usr/bin/env bash
# The offline GPU check of mlaan-js (this folder is built by `npm run gpu-bundle`; see
# packages/backend-webgpu/README.md). On a Linux x64 machine with a GPU and its driver, no Node, no
# npm and no network, it:
#   1. unpacks node, Dawn's addon and, where the machine has none, the Vulkan loader (beside this
#      folder: nothing is installed);
#   2. prints the WebGPU adapter                                   -> $OUT/adapter.json
#   3. runs the parity fixtures on webgpu (the float64 verdict)    -> $OUT/parity.txt, parity.json
#   4. times ResNet-32 training steps at batch 128 on webgpu (E2E, DGL K=8, DGL + MLAAN K=8,
#      InfoPro + MLAAN K=8) beside PyTorch on CUDA on the same GPU, stepping in turn, with the
#      kernels our profiled step spent its time in                  -> $OUT/versus-pytorch.json
# and writes the exit status of each part to $OUT/status.json and everything printed to
# $OUT/log.txt. OUT defaults to ./out. Knobs (environment): MLAAN_GPU_STEPS (10), MLAAN_GPU_WARMUP
# (3), MLAAN_GPU_BATCH (128), MLAAN_GPU_CONFIGURATIONS (e2e,dgl-k8,mlaan-k8,infopro+mlaan-k8),
# MLAAN_GPU_PYTHON (python3, with torch), MLAAN_GPU_TORCH_DEVICE (cuda; cpu where there is no
# CUDA), MLAAN_GPU_BUNDLED_LOADER=1 (use the bundled Vulkan loader even where one is installed).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
out=${OUT:-$here/out}
mkdir -p "$out"
exec > >(tee -a "$out/log.txt") 2>&1

steps=${MLAAN_GPU_STEPS:-10}
warmup=${MLAAN_GPU_WARMUP:-3}
batch=${MLAAN_GPU_BATCH:-128}
configurations=${MLAAN_GPU_CONFIGURATIONS:-e2e,dgl-k8,mlaan-k8,infopro+mlaan-k8}
python=${MLAAN_GPU_PYTHON:-python3}
torch_device=${MLAAN_GPU_TORCH_DEVICE:-cuda}
runtime=$here/.runtime
mkdir -p "$runtime"

unpack_xz() {
  [ -f "$2" ] && return 0
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1" >"$2.partial"
  else
    "$python" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2.partial"
  fi && mv "$2.partial" "$2"
}

echo "== mlaan-js GPU check, $(date -u +%FT%TZ), $(uname -srm)"
unpack_xz node.xz "$runtime/node" && chmod +x "$runtime/node" || { echo "cannot unpack node.xz (needs xz or python3)"; exit 1; }
unpack_xz dist/linux-x64/dawn.node.xz dist/linux-x64/dawn.node || { echo "cannot unpack dawn.node.xz"; exit 1; }
node=$runtime/node
echo "node $("$node" --version)"

# The Vulkan loader: the machine's, else the bundled packages unpacked here (not into /).
if [ -n "${MLAAN_GPU_BUNDLED_LOADER:-}" ] || ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  mkdir -p "$runtime/root"
  for deb in debs/*.deb; do
    if command -v dpkg-deb >/dev/null 2>&1; then
      dpkg-deb -x "$deb" "$runtime/root"
    else
      (mkdir -p "$runtime/deb" && cd "$runtime/deb" && ar x "$here/$deb" && tar -xf data.tar.* -C "$runtime/root" && rm -f data.tar.* control.tar.* debian-binary)
    fi
  done
  export LD_LIBRARY_PATH="$runtime/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "Vulkan loader: bundled ($(ls debs | tr '\n' ' '))"
else
  echo "Vulkan loader: the machine's"
fi
# The driver: NVIDIA's container runtime mounts its files under /usr/local/nvidia.
for lib in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [ -d "$lib" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$lib"
done
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && ! compgen -G '/usr/share/vulkan/icd.d/*.json' >/dev/null && ! compgen -G '/etc/vulkan/icd.d/*.json' >/dev/null; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then
      export VK_DRIVER_FILES=$icd
      export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
      echo "Vulkan driver: $icd"
      break
    fi
  done
fi
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

status() { echo "\"$1\": $2"; }
statuses=()

echo "== adapter"
"$node" mlaan-gpu.mjs adapter >"$out/adapter.json"
adapter_status=$?
cat "$out/adapter.json"
statuses+=("$(status adapter $adapter_status)")

echo "== parity fixtures on webgpu (float64 verdict)"
"$node" mlaan-gpu.mjs parity golden/* --backend webgpu --report "$out/parity.json" | tee "$out/parity.txt"
statuses+=("$(status parity "${PIPESTATUS[0]}")")

echo "== ResNet-32 steps at batch $batch: webgpu beside PyTorch ($torch_device)"
authors=()
[ -d authors/CIFAR-SVHN-STL/networks ] && authors=(--authors-code authors/CIFAR-SVHN-STL)
"$node" mlaan-gpu.mjs versus-pytorch --backends webgpu --device "$torch_device" --python "$python" \
  --configurations "$configurations" --batch "$batch" --steps "$steps" --warmup "$warmup" --threads "$(nproc)" \
  "${authors[@]}" --out "$out/versus-pytorch.json"
statuses+=("$(status versus_pytorch $?)")

(IFS=,; echo "{${statuses[*]}}") >"$out/status.json"
cat "$out/status.json"

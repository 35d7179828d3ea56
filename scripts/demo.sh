#!/usr/bin/env bash
# The main job: builds what the bench uses (the onednn backend's dist included), runs the demo
# ablation on the fastest backend that works, then prints what MLAAN changed and how sure that is
# (from the seed runs in benchmarks/demo/seeds/). Extra arguments go to mlaan-bench, e.g. --epochs 2.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1

# A oneDNN installed after `npm ci` has no addon yet: build it now (quick when it is up to date).
node packages/backend-onednn/scripts/build-addon.mjs --if-stale
npx turbo run build --filter=@mlaan/bench... --output-logs=errors-only

# CIFAR-10: $MLAAN_DATA_DIR, else ../shared/datasets when it holds it, else downloaded (170 MB) into the user cache.
data=()
if [ -n "${MLAAN_DATA_DIR:-}" ]; then
  data=(--data-dir "$MLAAN_DATA_DIR")
elif [ -f ../shared/datasets/cifar10/cifar-10-batches-bin/test_batch.bin ]; then
  data=(--data-dir ../shared/datasets)
else
  data=(--download)
fi
out=mlaan-bench-results/demo
previous=
for argument in "$@"; do
  case "$previous" in -o | --out) out=$argument ;; esac
  case "$argument" in --out=*) out=${argument#--out=} ;; esac
  previous=$argument
done
node apps/bench/dist/cli.js ablation --preset demo --backend auto "${data[@]}" --out mlaan-bench-results/demo "$@"
node scripts/demo-summary.mjs "$out" benchmarks/demo/seeds

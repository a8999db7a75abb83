#!/usr/bin/env bash
# The GPU benchmark as one prepared command for a lent device (`device` tool), from the repository root.
#
# Here, once (network to the package registries; 62 MB, all git-ignored):
#   bash benchmarks/gpu_run.sh --prepare
# Then, on the device (its image has torch, transformers, accelerate, but not datasets / diffusers / evaluate):
#   run(command="bash benchmarks/gpu_run.sh", carry=[".whl", ".cache/cifar10"], timeout_s=540)
# The table and JSON come back under $OUT/gpu (copy them to benchmarks/results/gpu and into BENCHMARKS.md,
# naming the card). The script stops starting methods after its --time_budget_s (420 s) and rewrites its table
# after every method, so a run cut short still leaves one.
set -euo pipefail
WHEELS="datasets==5.2.0 diffusers==0.42.1 dill==0.4.1 multiprocess==0.70.19 evaluate==0.4.6 importlib_metadata==10.2.0"
if [[ "${1:-}" == "--prepare" ]]; then
  mkdir -p .git/info && grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
  # shellcheck disable=SC2086
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $WHEELS
  mkdir -p .cache/cifar10 && cp ../shared/data/cifar10/*.parquet .cache/cifar10/
  du -sh .whl .cache/cifar10
  exit 0
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 benchmarks/gpu_cifar10_resnet18.py --data_dir .cache/cifar10 --cache_dir /tmp/gpu-bench \
  --output_dir "${OUT:-benchmarks/results}/gpu"

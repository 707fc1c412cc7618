#!/bin/sh
# One GPU check, ready to run on a machine with an NVIDIA GPU: workbench's CUDA paths (fp32/bf16/fp16
# with GradScaler, torch.compile, batch_size auto, nccl DDP under torchrun, the tutorial loop on the
# same GPU, the app's device list) as one Markdown table, in under 8 minutes. Paste it into
# bench/README.md.
#
#   bench/gpu.sh                                   every check but the speed recipe
#   bench/gpu.sh --cifar ../shared/datasets/cifar10_train_jpg
#                                                  also configs/cifar10_speed.yaml's time to 94%
#   PYTHON=python3 bench/gpu.sh                    another interpreter (default: .venv/bin/python)
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu.sh: no nvidia-smi here, so no NVIDIA GPU to check; CPU figures come from bench/throughput.py" >&2
    exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
# Whatever has finished by the limit is printed already: each check prints its rows as it ends.
exec timeout --signal=INT 470 "$PYTHON" bench/gpu.py "$@"

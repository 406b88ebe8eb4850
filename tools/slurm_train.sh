#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#        tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [ARGS...]
# One task per GPU; rank, world size and MASTER_ADDR come from SLURM_* (PORT sets the port, default 29500).
# `sh tools/...sh` (as MMDetection's guide types it) runs this file with a POSIX sh (dash) that lacks what follows:
# run it again with bash
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail
if [ $# -lt 4 ]; then echo "usage: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [ARGS...]" >&2; exit 2; fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PY_ARGS=("${@:5}")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=find_python.sh
source "$HERE/find_python.sh"
# shellcheck disable=SC2086  # SRUN_ARGS is a list of words on purpose
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$HERE/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher="slurm" "${PY_ARGS[@]}"

#!/bin/sh
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#        tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [ARGS...]
# One task per GPU; rank, world size and MASTER_ADDR come from SLURM_* (PORT sets the port, default 29500).
# POSIX sh: `sh tools/...sh` (as MMDetection's guide types it), `bash tools/...sh` and `./tools/...sh` all run it.
set -eu
if [ $# -lt 4 ]; then echo "usage: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [ARGS...]" >&2; exit 2; fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=find_python.sh
. "$HERE/find_python.sh"
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
    "$PYTHON" -u "$HERE/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher="slurm" "$@"

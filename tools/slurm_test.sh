#!/bin/sh
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#        tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [WORK_DIR] [ARGS...]
# A fifth argument that is not an option is the work dir (MMOCR's form), passed on as --work-dir.
# POSIX sh: `sh tools/...sh` (as MMDetection's guide types it), `bash tools/...sh` and `./tools/...sh` all run it.
set -eu
if [ $# -lt 4 ]; then echo "usage: tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [WORK_DIR] [ARGS...]" >&2; exit 2; fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
if [ $# -gt 0 ]; then
    case $1 in
        -*) ;;
        *) set -- --work-dir "$@" ;;
    esac
fi
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=find_python.sh
. "$HERE/find_python.sh"
# shellcheck disable=SC2086
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher="slurm" "$@"

#!/bin/sh
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [ARGS...]
# Multi-node: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1).
# POSIX sh: `sh tools/...sh` (as MMDetection's guide types it), `bash tools/...sh` and `./tools/...sh` all run it.
set -eu
if [ $# -lt 3 ]; then echo "usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [ARGS...]" >&2; exit 2; fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=find_python.sh
. "$HERE/find_python.sh"
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"

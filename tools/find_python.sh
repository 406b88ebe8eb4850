#!/bin/sh
# POSIX sh (dash, bash). Sourced by tools/dist_*.sh and tools/slurm_*.sh: sets PYTHON to a Python that can import
# VisionCraft and PyTorch, so the scripts work without an activated environment. Tried in order:
#   $PYTHON (if set; an error when it lacks them), `python` and `python3` on PATH, the repository's .venv
#   (what `make install` creates), and the Python of the `visioncraft` command on PATH (its #! line).
# this file under bash (sourced from anywhere), else the script that sources it (tools/*.sh) under sh
_vc_here=$(cd "$(dirname "${BASH_SOURCE:-$0}")/.." && pwd)
_vc_has_visioncraft() {  # with the repository on PYTHONPATH, as the scripts run it
    [ -n "$1" ] && PYTHONPATH="$_vc_here${PYTHONPATH:+:$PYTHONPATH}" "$1" -c 'import torch, visioncraft' \
        >/dev/null 2>&1
}
_vc_find_python() {  # POSIX has no `local`: its variables are prefixed _vc_
    if [ -n "${PYTHON:-}" ]; then
        if _vc_has_visioncraft "$PYTHON"; then return 0; fi
        echo "error: PYTHON=$PYTHON cannot import torch and visioncraft" >&2
        return 1
    fi
    for _vc_candidate in "$(command -v python 2>/dev/null)" "$(command -v python3 2>/dev/null)" \
                     "$_vc_here/.venv/bin/python"; do
        if _vc_has_visioncraft "$_vc_candidate"; then PYTHON=$_vc_candidate; return 0; fi
    done
    if command -v visioncraft >/dev/null 2>&1; then
        _vc_shebang=$(head -n 1 "$(command -v visioncraft)")
        _vc_candidate=${_vc_shebang#\#!}
        _vc_candidate=${_vc_candidate%% *}
        if _vc_has_visioncraft "$_vc_candidate"; then PYTHON=$_vc_candidate; return 0; fi
    fi
    echo "error: no Python that can import torch and visioncraft was found (tried python and python3 on PATH," \
         "$_vc_here/.venv/bin/python and the visioncraft command's). Activate the environment you installed" \
         "VisionCraft into, run 'make install', or set PYTHON=/path/to/python" >&2
    return 1
}
_vc_find_python || exit 2
export PYTHON

"""How the video and image demos (``demo/*.py``) report a mistake in their input, for code that runs a demo's
``main`` (the tests).

The demos' arguments (``CONFIG CHECKPOINT --device --score-thr``, ``--out --show --wait-time``) are built by
:mod:`visioncraft.cli.parsers`, which imports neither torch nor this package (``visioncraft.apis`` loads the
models): ``demo/*.py --help`` answers at once, and ``--device`` defaults to ``auto`` (CUDA when there is one,
else the CPU; :func:`visioncraft.cli.parsers.resolve_device`). The demos themselves run through
:func:`visioncraft.cli.main.run_cli`, which does what :func:`run_demo` does."""
from __future__ import annotations

from collections.abc import Callable

from visioncraft.errors import run_entry_point

__all__ = ['run_demo']


def run_demo(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a demo's ``main``; a video, camera, config or file the user got wrong is printed as one
    ``error: ...`` line with exit status 2 (``VISIONCRAFT_DEBUG=1`` shows the traceback)."""
    return run_entry_point(main, argv)  # VideoIOError is a UserError: one line too

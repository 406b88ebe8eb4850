"""Showing frames in an OpenCV window: :func:`has_display` says whether one can open; :class:`FrameWindow` shows
frames (and warns once, then shows nothing, where there is no display); q / Q / Esc (:data:`QUIT_KEYS`) end a
shown stream."""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np

__all__ = ['has_display', 'FrameWindow', 'QUIT_KEYS']

#: key codes that end a shown stream: q, Q, Esc
QUIT_KEYS = (ord('q'), ord('Q'), 27)


def has_display() -> bool:
    """Whether a window can be opened: a GUI build of OpenCV, and on Linux an X11 / Wayland display."""
    if sys.platform.startswith('linux') and not (os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')):
        return False
    import cv2
    try:  # headless OpenCV builds have no GUI backend at all
        return bool(cv2.currentUIFramework()) if hasattr(cv2, 'currentUIFramework') else True
    except cv2.error:
        return False


class FrameWindow:
    """One OpenCV window. Without a display it warns once and shows nothing.

    Args:
        name: the window's title.
        wait_time: seconds each frame stays (at least 1 ms, so the window refreshes and keys are read);
            0 waits for a key.
    """

    def __init__(self, name: str, wait_time: float = 0.001) -> None:
        self.name = name
        self.wait_ms = max(int(round(float(wait_time) * 1000)), 1) if wait_time > 0 else 0
        self.enabled = has_display()
        if not self.enabled:
            warnings.warn(f'{name}: no display to show the frames on (DISPLAY is not set, or OpenCV is a '
                          'headless build); pass --out FILE to write them instead', stacklevel=2)

    def show(self, frame_bgr: np.ndarray) -> bool:
        """Show the frame; False when the user pressed q, Q or Esc. Without a window it only returns True."""
        if not self.enabled:
            return True
        import cv2
        try:
            cv2.imshow(self.name, frame_bgr)
            key = cv2.waitKey(self.wait_ms)
        except cv2.error as exc:
            warnings.warn(f'{self.name}: could not open a window ({exc}); pass --out FILE to write the frames '
                          'instead', stacklevel=2)
            self.enabled = False
            return True
        return (key & 0xFF) not in QUIT_KEYS if key >= 0 else True

    def close(self) -> None:
        if self.enabled:
            import cv2
            cv2.destroyWindow(self.name)

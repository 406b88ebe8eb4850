"""Line charts without matplotlib: one layout, drawn as SVG text or as a PNG (OpenCV).

A figure is a title and one or more :class:`Panel` s stacked vertically; a panel holds :class:`Series` (a label and
its x / y values) on shared axes. :func:`render_svg` writes the figure as SVG text (inline in an HTML report, or a
standalone ``.svg`` file); :func:`render_png` draws the same layout into an H x W x 3 uint8 BGR array and
:func:`save_figure` writes either, by the file's suffix. Non-finite y values (NaN, inf) break a line; they are kept
in the data attributes.

Every series' ``<polyline>`` carries its exact values in ``data-x`` / ``data-y`` (space-separated, Python's
shortest round-trip ``repr``), so a reader (or a test) gets the plotted numbers back without inverting the axes.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import mark_user_error

__all__ = ['Series', 'Panel', 'render_svg', 'render_png', 'save_figure', 'nice_ticks', 'format_number', 'PALETTE']

#: line colours (RGB hex), in the order series are drawn; the 11th series starts again
PALETTE = ('#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22',
           '#17becf')

_WIDTH = 960          # figure width, pixels
_PANEL_H = 300        # height of one panel's plotting area
_LEFT, _RIGHT = 78, 24
_PANEL_TOP = 34       # space above a panel's plotting area (its title and the y label)
_PANEL_BOTTOM = 44    # below it (x tick labels, x label)
_TITLE_H = 36
_LEGEND_ROW = 18
_CHAR_W = 7           # estimated width of one character at the 12-pixel font (layout only)
_MAX_MARKERS = 60     # series with at most this many points also get a dot per point


@dataclass
class Series:
    """One line: ``xs`` and ``ys`` of the same length (numbers; NaN / inf in ``ys`` break the line)."""
    label: str
    xs: Sequence[float]
    ys: Sequence[float]

    def __post_init__(self) -> None:
        if len(self.xs) != len(self.ys):
            raise ValueError(f'series {self.label!r}: {len(self.xs)} x values but {len(self.ys)} y values')


@dataclass
class Panel:
    """Axes with their series: ``xlabel`` under them, ``ylabel`` above them, ``title`` at the top."""
    title: str = ''
    xlabel: str = ''
    ylabel: str = ''
    series: list[Series] = field(default_factory=list)


# -- numbers and ticks --------------------------------------------------------------------------------------------
def format_number(v: float) -> str:
    """A short label for ``v``: integers as they are, 1e-3 <= |v| < 1e5 with up to 4 significant digits,
    anything else in scientific notation (``2e-05``)."""
    if not math.isfinite(v):
        return str(v)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    if 1e-3 <= abs(v) < 1e5:
        return f'{v:.4g}'
    return f'{v:.2e}'.replace('e-0', 'e-').replace('e+0', 'e+')


def nice_ticks(lo: float, hi: float, n: int = 5, *, integer: bool = False) -> list[float]:
    """About ``n`` round tick values (steps of 1, 2 or 5 x 10^k) covering ``[lo, hi]``; ``integer``: whole
    numbers only (iterations, epochs)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1, round(step))
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9:
        ticks.append(0.0 if abs(t) < step * 1e-9 else round(t, 12))
        t += step
    return ticks


def _finite(values) -> np.ndarray:
    a = np.asarray([float(v) for v in values], dtype=np.float64)
    return a[np.isfinite(a)]


def _span(values: np.ndarray) -> tuple[float, float]:
    """``(lo, hi)`` of finite ``values`` with a 5% margin; a single value gets a margin of its own."""
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


# -- layout ---------------------------------------------------------------------------------------------------
@dataclass
class _PanelLayout:
    panel: Panel
    top: float                       # y of the plotting area's top edge
    legend_top: float                # y of the first legend row
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    x_ticks: list[float]
    y_ticks: list[float]
    legend_cols: int

    @property
    def left(self) -> float:
        return _LEFT

    @property
    def right(self) -> float:
        return _WIDTH - _RIGHT

    @property
    def bottom(self) -> float:
        return self.top + _PANEL_H

    def px(self, x: float) -> float:
        lo, hi = self.x_range
        return self.left + (x - lo) / (hi - lo) * (self.right - self.left)

    def py(self, y: float) -> float:
        lo, hi = self.y_range
        return self.bottom - (y - lo) / (hi - lo) * (self.bottom - self.top)


def _layout(panels: Sequence[Panel], title: str) -> tuple[list[_PanelLayout], int]:
    """Where every panel goes, and the figure's height."""
    out = []
    y = _TITLE_H if title else 8
    for panel in panels:
        xs = _finite([x for s in panel.series for x in s.xs])
        ys = _finite([v for s in panel.series for v in s.ys])
        x_range, y_range = _span(xs), _span(ys)
        whole = bool(xs.size) and bool(np.all(xs == np.round(xs)))  # iterations, epochs
        if whole and xs.min() == xs.max():
            x_range = (float(xs.min()) - 1, float(xs.max()) + 1)
        if xs.size and float(xs.min()) >= 0 and x_range[0] < 0:  # steps and epochs: the axis starts at 0 at most
            x_range = (min(0.0, float(xs.min())), x_range[1])
        longest = max((len(s.label) for s in panel.series), default=1)
        cols = max(1, int((_WIDTH - _LEFT - _RIGHT) // (longest * _CHAR_W + 34)))
        rows = math.ceil(len(panel.series) / cols)
        top = y + _PANEL_TOP
        legend_top = top + _PANEL_H + _PANEL_BOTTOM
        out.append(_PanelLayout(panel, top, legend_top, x_range, y_range, nice_ticks(*x_range, n=8, integer=whole),
                                nice_ticks(*y_range, n=5), cols))
        y = legend_top + rows * _LEGEND_ROW + 10
    return out, int(math.ceil(y))


def _segments(lay: _PanelLayout, s: Series) -> list[list[tuple[float, float]]]:
    """The series' pixel points, split where a value is not finite."""
    segs: list[list[tuple[float, float]]] = [[]]
    for x, v in zip(s.xs, s.ys):
        x, v = float(x), float(v)
        if math.isfinite(x) and math.isfinite(v):
            segs[-1].append((lay.px(x), lay.py(v)))
        elif segs[-1]:
            segs.append([])
    return [seg for seg in segs if seg]


def _legend_pos(lay: _PanelLayout, i: int) -> tuple[float, float]:
    width = (lay.right - lay.left) / lay.legend_cols
    return lay.left + (i % lay.legend_cols) * width, lay.legend_top + (i // lay.legend_cols) * _LEGEND_ROW


# -- SVG ------------------------------------------------------------------------------------------------------
def _num(v: float) -> str:
    return f'{v:.1f}'


def _data(values) -> str:
    return ' '.join(str(int(v)) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else repr(float(v))
                    for v in values)


def render_svg(panels: Sequence[Panel], title: str = '', *, standalone: bool = True) -> str:
    """The figure as SVG text. ``standalone``: with the XML namespace a ``.svg`` file needs (HTML5 inline SVG
    does not need it)."""
    layouts, height = _layout(panels, title)
    esc = html.escape
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ''
    parts = [f'<svg{ns} class="vc-figure" width="{_WIDTH}" height="{height}" viewBox="0 0 {_WIDTH} {height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect x="0" y="0" width="{_WIDTH}" height="{height}" fill="white"/>']
    if title:
        parts.append(f'<text x="{_WIDTH / 2}" y="24" text-anchor="middle" font-size="16" '
                     f'font-weight="bold">{esc(title)}</text>')
    for lay in layouts:
        p = lay.panel
        parts.append(f'<g class="panel" data-title="{esc(p.title)}">')
        if p.title:
            parts.append(f'<text x="{_WIDTH / 2}" y="{_num(lay.top - 18)}" text-anchor="middle" font-size="13" '
                         f'font-weight="bold">{esc(p.title)}</text>')
        if p.ylabel:
            parts.append(f'<text x="{_num(lay.left)}" y="{_num(lay.top - 5)}" fill="#444">{esc(p.ylabel)}</text>')
        for t in lay.y_ticks:
            y = _num(lay.py(t))
            parts.append(f'<line x1="{_num(lay.left)}" y1="{y}" x2="{_num(lay.right)}" y2="{y}" stroke="#e5e5e5"/>')
            parts.append(f'<text x="{_num(lay.left - 6)}" y="{y}" text-anchor="end" dominant-baseline="middle" '
                         f'fill="#444">{esc(format_number(t))}</text>')
        for t in lay.x_ticks:
            x = _num(lay.px(t))
            parts.append(f'<line x1="{x}" y1="{_num(lay.top)}" x2="{x}" y2="{_num(lay.bottom)}" stroke="#f0f0f0"/>')
            parts.append(f'<text x="{x}" y="{_num(lay.bottom + 16)}" text-anchor="middle" fill="#444">'
                         f'{esc(format_number(t))}</text>')
        parts.append(f'<rect x="{_num(lay.left)}" y="{_num(lay.top)}" width="{_num(lay.right - lay.left)}" '
                     f'height="{_PANEL_H}" fill="none" stroke="#888"/>')
        if p.xlabel:
            parts.append(f'<text x="{_num((lay.left + lay.right) / 2)}" y="{_num(lay.bottom + 34)}" '
                         f'text-anchor="middle" fill="#444">{esc(p.xlabel)}</text>')
        for i, s in enumerate(p.series):
            colour = PALETTE[i % len(PALETTE)]
            segs = _segments(lay, s)
            parts.append(f'<g class="series" data-label="{esc(s.label)}">')
            # one polyline with the data (its points are the first segment's when the line breaks)
            first = ' '.join(f'{_num(x)},{_num(y)}' for x, y in segs[0]) if segs else ''
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{first}" '
                         f'data-x="{_data(s.xs)}" data-y="{_data(s.ys)}"/>')
            for seg in segs[1:]:
                seg_pts = ' '.join(f'{_num(x)},{_num(y)}' for x, y in seg)
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{seg_pts}"/>')
            finite = [(x, v) for x, v in zip(s.xs, s.ys) if math.isfinite(float(x)) and math.isfinite(float(v))]
            if len(finite) <= _MAX_MARKERS or len(finite) == 1:
                for x, v in finite:
                    parts.append(f'<circle cx="{_num(lay.px(float(x)))}" cy="{_num(lay.py(float(v)))}" r="2.5" '
                                 f'fill="{colour}"><title>{esc(s.label)}: {esc(format_number(float(x)))} → '
                                 f'{esc(format_number(float(v)))}</title></circle>')
            lx, ly = _legend_pos(lay, i)
            parts.append(f'<line x1="{_num(lx)}" y1="{_num(ly)}" x2="{_num(lx + 22)}" y2="{_num(ly)}" '
                         f'stroke="{colour}" stroke-width="3"/>')
            parts.append(f'<text x="{_num(lx + 28)}" y="{_num(ly)}" dominant-baseline="middle">{esc(s.label)}</text>')
            parts.append('</g>')
        parts.append('</g>')
    parts.append('</svg>')
    return '\n'.join(parts)


# -- PNG ------------------------------------------------------------------------------------------------------
def render_png(panels: Sequence[Panel], title: str = '') -> np.ndarray:
    """The figure drawn with OpenCV: H x W x 3 uint8, BGR (``cv2.imwrite`` order)."""
    import cv2  # OpenCV loads when a PNG is drawn, not with the module
    layouts, height = _layout(panels, title)
    img = np.full((height, _WIDTH, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    aa = cv2.LINE_AA
    grey, dark = (136, 136, 136), (68, 68, 68)

    def text(s: str, x: float, y: float, *, anchor: str = 'start', scale: float = 0.45, colour=dark,
             thick: int = 1) -> None:
        (w, h), _ = cv2.getTextSize(s, font, scale, thick)
        if anchor == 'middle':
            x -= w / 2
        elif anchor == 'end':
            x -= w
        cv2.putText(img, s, (int(round(x)), int(round(y + h / 2))), font, scale, colour, thick, aa)

    def bgr(hex_colour: str) -> tuple[int, int, int]:
        r, g, b = _rgb(hex_colour)
        return b, g, r

    if title:
        text(title, _WIDTH / 2, 18, anchor='middle', scale=0.6, colour=(0, 0, 0), thick=2)
    for lay in layouts:
        p = lay.panel
        if p.title:
            text(p.title, _WIDTH / 2, lay.top - 18, anchor='middle', scale=0.5, colour=(0, 0, 0), thick=1)
        if p.ylabel:
            text(p.ylabel, lay.left, lay.top - 7, scale=0.42)
        left, right, top, bottom = (int(round(v)) for v in (lay.left, lay.right, lay.top, lay.bottom))
        for t in lay.y_ticks:
            y = int(round(lay.py(t)))
            cv2.line(img, (left, y), (right, y), (229, 229, 229), 1, aa)
            text(format_number(t), lay.left - 6, y, anchor='end', scale=0.4)
        for t in lay.x_ticks:
            x = int(round(lay.px(t)))
            cv2.line(img, (x, top), (x, bottom), (240, 240, 240), 1, aa)
            text(format_number(t), x, lay.bottom + 12, anchor='middle', scale=0.4)
        cv2.rectangle(img, (left, top), (right, bottom), grey, 1)
        if p.xlabel:
            text(p.xlabel, (lay.left + lay.right) / 2, lay.bottom + 32, anchor='middle', scale=0.42)
        for i, s in enumerate(p.series):
            colour = bgr(PALETTE[i % len(PALETTE)])
            segs = _segments(lay, s)
            for seg in segs:
                pts = np.round(np.asarray(seg) * 16).astype(np.int32).reshape(-1, 1, 2)  # 4 fractional bits
                cv2.polylines(img, [pts], False, colour, 2, aa, shift=4)
            n = sum(len(seg) for seg in segs)
            if n <= _MAX_MARKERS or n == 1:
                for seg in segs:
                    for x, y in seg:
                        cv2.circle(img, (int(round(x)), int(round(y))), 3, colour, -1, aa)
            lx, ly = _legend_pos(lay, i)
            cv2.line(img, (int(lx), int(ly)), (int(lx + 22), int(ly)), colour, 3, aa)
            text(s.label, lx + 28, ly, scale=0.42, colour=(0, 0, 0))
    return img


def save_figure(panels: Sequence[Panel], out: str | Path, title: str = '') -> Path:
    """Write the figure to ``out``: ``.svg`` as SVG text, ``.png`` / ``.jpg`` / ``.jpeg`` / ``.bmp`` drawn with
    OpenCV. Any other suffix is a ``ValueError`` (a user error) naming the file. The folder is created."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in ('.svg', '.png', '.jpg', '.jpeg', '.bmp'):
        raise mark_user_error(ValueError(f'{out}: cannot write a figure as {suffix or "a file without a suffix"!r}'
                                         f'; use .png or .svg (or .jpg / .bmp)'))
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == '.svg':
        out.write_text(render_svg(panels, title) + '\n', encoding='utf-8')
        return out
    import cv2  # OpenCV loads when a picture is written, not with the module
    if not cv2.imwrite(str(out), render_png(panels, title)):
        raise OSError(f'{out}: OpenCV could not write the picture')
    return out

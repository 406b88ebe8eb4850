"""PoseLocalVisualizer: skeletons, keypoints (with their scores), boxes and heatmaps of top-down pose samples.

What is drawn, and where:

* **Panels.** With ``draw_gt`` and ``draw_pred`` and a sample holding both ``gt_instances`` and
  ``pred_instances``, the result is two copies of the image side by side: ground truth on the left, predictions
  on the right (MMPose's layout). With one of them, one panel. With ``draw_heatmap`` and ``pred_heatmaps`` in the
  sample, the prediction panel gets the heatmaps (max over keypoints, JET colours, blended with the image) below
  it, and the ground-truth panel the plain image below it, so both columns have one height.
* **Keypoints and links.** Ground-truth keypoints are drawn where ``keypoints_visible > 0`` and they are not at
  (0, 0) (COCO's "not annotated", and what test samples cut from a ``bbox_file`` carry), predicted ones where
  ``keypoint_scores >= kpt_thr``; a skeleton link when both its ends are drawn. Colours come from the constructor
  (``kpt_color`` / ``link_color`` / ``skeleton``) when given, else from ``dataset_meta`` (``keypoint_colors``,
  ``skeleton_link_colors``, ``skeleton_links``: what :func:`~visioncraft.tasks.pose.datasets.metainfo.
  parse_pose_metainfo` returns; the runner sets ``dataset_meta`` to the dataset's metainfo), else red keypoints and
  no links. ``show_keypoint_weight`` makes each keypoint and link as opaque as its score.
* **Frames.** Keypoints and boxes are in original-image pixels (the data contract). The image handed in is
  normally the original (``img_path``); when it is the top-down crop instead (its (w, h) equals the sample's
  ``input_size``), coordinates are mapped into the crop with ``input_center`` / ``input_scale``.

Images are H x W x 3 uint8 RGB in and out (the :class:`~visioncraft.visualization.Visualizer` convention);
colours are RGB.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visioncraft.fileio.image import imwrite
from visioncraft.registry import VISUALIZERS
from visioncraft.structures import DataSample, to_numpy
from visioncraft.visualization import Visualizer, rgb_uint8

__all__ = ['PoseLocalVisualizer', 'heatmaps_to_image', 'SKELETON_STYLES']

#: skeleton styles :meth:`PoseLocalVisualizer.draw_sample` knows
SKELETON_STYLES = ('mmpose',)

_NAMED_COLORS = dict(red=(255, 0, 0), green=(0, 255, 0), blue=(0, 0, 255), yellow=(255, 255, 0),
                     white=(255, 255, 255), black=(0, 0, 0), cyan=(0, 255, 255), magenta=(255, 0, 255),
                     orange=(255, 128, 0))


def _color(value: Any, what: str) -> tuple[int, int, int]:
    """One RGB colour from a name ('red') or an (r, g, b) sequence."""
    if isinstance(value, str):
        if value not in _NAMED_COLORS:
            raise ValueError(f'PoseLocalVisualizer: unknown {what} colour {value!r}; use (r, g, b) or one of '
                             f'{", ".join(_NAMED_COLORS)}')
        return _NAMED_COLORS[value]
    arr = np.asarray(value).reshape(-1)
    if arr.size != 3:
        raise ValueError(f'PoseLocalVisualizer: {what} colour must be (r, g, b), got {value!r}')
    return tuple(int(c) for c in arr)  # type: ignore[return-value]


def _colors(value: Any, n: int, what: str) -> list[tuple[int, int, int]]:
    """``n`` RGB colours from one colour (repeated) or a list / (n, 3) array of them."""
    if isinstance(value, str) or (np.asarray(value).ndim == 1 and np.asarray(value).size == 3):
        return [_color(value, what)] * n
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f'PoseLocalVisualizer: {what} colours must be (r, g, b) or a list of them, got shape '
                         f'{arr.shape}')
    if len(arr) < n:
        raise ValueError(f'PoseLocalVisualizer: {len(arr)} {what} colours for {n} {what}s')
    return [tuple(int(c) for c in row) for row in arr[:n]]  # type: ignore[misc]


def heatmaps_to_image(heatmaps: np.ndarray, input_center: Sequence[float], input_scale: Sequence[float],
                      image_hw: tuple[int, int]) -> np.ndarray:
    """Paste top-down heatmaps back into the image frame.

    Args:
        heatmaps: K x h x w float heatmaps of one instance, in the frame of the model's input crop.
        input_center, input_scale: (2,) the crop's centre and (w, h) size in image pixels (``TopdownAffine``'s
            ``input_center`` / ``input_scale``; the crop is not rotated at test time).
        image_hw: (H, W) of the image.

    Returns:
        K x H x W float32: heatmap index ``u`` lands on image ``x = u * scale_w / w + center_x - scale_w / 2``
        (the estimator's keypoint back-mapping); 0 outside the crop.
    """
    import cv2
    hm = np.asarray(heatmaps, dtype=np.float32)
    if hm.ndim != 3:
        raise ValueError(f'heatmaps_to_image: heatmaps must be K x h x w, got shape {hm.shape}')
    k, h, w = hm.shape
    cx, cy = (float(v) for v in np.asarray(input_center, np.float64).reshape(-1)[:2])
    sw, sh = (float(v) for v in np.asarray(input_scale, np.float64).reshape(-1)[:2])
    mat = np.array([[sw / w, 0.0, cx - sw / 2], [0.0, sh / h, cy - sh / 2]], dtype=np.float64)
    big_h, big_w = int(image_hw[0]), int(image_hw[1])
    out = np.empty((k, big_h, big_w), np.float32)
    for i in range(0, k, 4):  # warpAffine takes up to 4 channels at once
        chunk = np.ascontiguousarray(hm[i:i + 4].transpose(1, 2, 0))
        warped = cv2.warpAffine(chunk, mat, (big_w, big_h), flags=cv2.INTER_LINEAR, borderValue=0)
        out[i:i + 4] = warped.reshape(big_h, big_w, -1).transpose(2, 0, 1)
    return out


@VISUALIZERS.register_module(['PoseLocalVisualizer', 'mmpose.PoseLocalVisualizer'])
class PoseLocalVisualizer(Visualizer):
    """Draws ``gt_instances`` and ``pred_instances`` of pose :class:`~visioncraft.structures.DataSample` s.

    Args:
        vis_backends, save_dir, name: as for :class:`~visioncraft.visualization.Visualizer`.
        radius: keypoint radius in pixels.
        line_width: link (and box) width in pixels.
        kpt_color: RGB colour of every keypoint, a name ('red'), or one colour per keypoint (K x 3);
            ``None`` takes ``dataset_meta['keypoint_colors']`` (else red).
        skeleton: links as (i, j) keypoint index pairs; ``None`` takes ``dataset_meta['skeleton_links']``
            (else none are drawn).
        link_color: RGB colour of every link or one per link; ``None`` takes
            ``dataset_meta['skeleton_link_colors']`` (else green).
        bbox_color: RGB colour (or name) of boxes.
        text_color: RGB colour of keypoint indices / scores and box scores.
        show_keypoint_weight: draw each keypoint and link as opaque as its score (clipped to [0, 1]).
        alpha: opacity of keypoints and links (1: solid).
        draw_bbox, draw_heatmap, show_kpt_idx, show_kpt_score, skeleton_style: defaults of the
            :meth:`draw_sample` options of the same names (what the validation / test hook draws with).

    See the module docstring for panels, thresholds and frames.
    """

    def __init__(self, vis_backends: list[dict] | None = None, save_dir: str | Path | None = None,
                 name: str = 'visualizer', *, radius: int = 3, line_width: int = 1, kpt_color: Any = None,
                 skeleton: Sequence[Sequence[int]] | None = None, link_color: Any = None,
                 bbox_color: Any = (0, 255, 0), text_color: Any = (255, 255, 255),
                 show_keypoint_weight: bool = False, alpha: float = 1.0, draw_bbox: bool = False,
                 draw_heatmap: bool = False, show_kpt_idx: bool = False, show_kpt_score: bool = False,
                 skeleton_style: str = 'mmpose') -> None:
        super().__init__(vis_backends=vis_backends, save_dir=save_dir, name=name)
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f'PoseLocalVisualizer: alpha must be in [0, 1], got {alpha}')
        if int(radius) < 0 or int(line_width) < 1:
            raise ValueError(f'PoseLocalVisualizer: radius must be >= 0 and line_width >= 1, got radius={radius}, '
                             f'line_width={line_width}')
        self._check_style(skeleton_style)
        self.radius = int(radius)
        self.line_width = int(line_width)
        self.kpt_color = kpt_color
        self.skeleton = None if skeleton is None else [tuple(int(i) for i in link) for link in skeleton]
        self.link_color = link_color
        self.bbox_color = _color(bbox_color, 'bbox')
        self.text_color = _color(text_color, 'text')
        self.show_keypoint_weight = bool(show_keypoint_weight)
        self.alpha = float(alpha)
        self.draw_bbox = bool(draw_bbox)
        self.draw_heatmap = bool(draw_heatmap)
        self.show_kpt_idx = bool(show_kpt_idx)
        self.show_kpt_score = bool(show_kpt_score)
        self.skeleton_style = skeleton_style

    @staticmethod
    def _check_style(style: str) -> None:
        if style not in SKELETON_STYLES:
            raise ValueError(f'PoseLocalVisualizer: skeleton_style={style!r} is not supported; use one of '
                             f'{", ".join(SKELETON_STYLES)}')

    def set_dataset_meta(self, dataset_meta: dict | None) -> None:
        """MMPose's name for ``visualizer.dataset_meta = meta`` (what the runner does)."""
        self.dataset_meta = dict(dataset_meta or {})

    # -- colours and links ----------------------------------------------------------------------------
    def _kpt_colors(self, k: int) -> list[tuple[int, int, int]]:
        value = self.kpt_color
        if value is None:
            value = self.dataset_meta.get('keypoint_colors')
            if value is not None and len(np.asarray(value)) < k:
                value = None  # the dataset's colours are for fewer keypoints than this model predicts
        return _colors('red' if value is None else value, k, 'keypoint')

    def _links(self, k: int) -> list[tuple[int, int]]:
        links = self.skeleton if self.skeleton is not None else self.dataset_meta.get('skeleton_links')
        if not links:
            return []
        out = [(int(a), int(b)) for a, b in links]
        bad = [link for link in out if not (0 <= link[0] < k and 0 <= link[1] < k)]
        if bad:
            raise ValueError(f'PoseLocalVisualizer: skeleton link(s) {bad[:3]} name keypoints outside 0..{k - 1}')
        return out

    def _link_colors(self, n: int) -> list[tuple[int, int, int]]:
        value = self.link_color
        if value is None and self.skeleton is None:
            value = self.dataset_meta.get('skeleton_link_colors')
            if value is not None and len(np.asarray(value)) < n:
                value = None
        return _colors('green' if value is None else value, n, 'link')

    # -- the public entry point -------------------------------------------------------------------------
    def draw_sample(self, image: np.ndarray, data_sample: DataSample | None, draw_gt: bool = True,
                    draw_pred: bool = True, pred_score_thr: float = 0.3, *, kpt_thr: float | None = None,
                    draw_heatmap: bool | None = None, draw_bbox: bool | None = None, show_kpt_idx: bool | None = None,
                    show_kpt_score: bool | None = None, skeleton_style: str | None = None) -> np.ndarray:
        """Draw the sample's instances on a copy of ``image``.

        Args:
            image: H x W x 3 uint8 RGB: the original image (or the model's input crop, see the module docstring).
            data_sample: a :class:`DataSample` with ``gt_instances`` (``keypoints`` N x K x 2 image pixels,
                ``keypoints_visible`` N x K, optional ``bboxes`` N x 4 xyxy) and / or ``pred_instances``
                (``keypoints`` N x K x 2, ``keypoint_scores`` N x K, optional ``bboxes`` N x 4 xyxy and
                ``bbox_scores`` N), optionally ``pred_heatmaps`` (K x h x w: the image's size, or one instance's
                heatmaps in its crop frame). Tensors or numpy arrays. ``None`` gives a copy of the image.
            draw_gt, draw_pred: draw the ground truth / the predictions when present.
            pred_score_thr: the keypoint score threshold (what the visualization hook passes).
            kpt_thr: overrides ``pred_score_thr`` (MMPose's name).
            draw_heatmap, draw_bbox, show_kpt_idx, show_kpt_score, skeleton_style: ``None`` takes the
                constructor's default.

        Returns:
            H' x W' x 3 uint8 RGB: one panel, or ground truth (left) and predictions (right) (``W' = 2 W``);
            twice as high with heatmaps.
        """
        thr = float(pred_score_thr if kpt_thr is None else kpt_thr)
        draw_heatmap = self.draw_heatmap if draw_heatmap is None else bool(draw_heatmap)
        draw_bbox = self.draw_bbox if draw_bbox is None else bool(draw_bbox)
        show_idx = self.show_kpt_idx if show_kpt_idx is None else bool(show_kpt_idx)
        show_score = self.show_kpt_score if show_kpt_score is None else bool(show_kpt_score)
        self._check_style(self.skeleton_style if skeleton_style is None else skeleton_style)
        img = self._as_rgb(image)
        if data_sample is None:
            return img.copy()
        meta = data_sample.metainfo
        to_frame = self._frame_mapper(meta, img.shape[:2])

        gt_panel = pred_panel = heat_panel = None
        if draw_gt and 'gt_instances' in data_sample:
            gt = data_sample.gt_instances
            kpts = gt.get('keypoints')
            vis = gt.get('keypoints_visible')
            gt_panel = img.copy()
            if draw_bbox and gt.get('bboxes') is not None:
                self._draw_boxes(gt_panel, to_frame(to_numpy(gt.bboxes).reshape(-1, 2)).reshape(-1, 4), None)
            if kpts is not None:
                kpts = to_numpy(kpts).astype(np.float64)
                kpts = to_frame(kpts.reshape(-1, 2)).reshape(kpts.shape)
                weights = np.ones(kpts.shape[:-1]) if vis is None else to_numpy(vis).astype(np.float64)
                # (0, 0) is COCO's "not annotated" (and what a bbox_file test sample carries): not drawn
                weights = weights * ~(kpts == 0).all(-1)
                self._draw_keypoints(gt_panel, kpts, weights, 0.0, show_idx, False, strict=False)
        if draw_pred and 'pred_instances' in data_sample:
            pred = data_sample.pred_instances
            kpts = pred.get('keypoints')
            pred_panel = img.copy()
            if draw_bbox and pred.get('bboxes') is not None:
                boxes = to_frame(to_numpy(pred.bboxes).reshape(-1, 2)).reshape(-1, 4)
                bs = pred.get('bbox_scores')
                self._draw_boxes(pred_panel, boxes, None if bs is None else to_numpy(bs).reshape(-1))
            if kpts is not None:
                kpts = to_numpy(kpts).astype(np.float64)
                kpts = to_frame(kpts.reshape(-1, 2)).reshape(kpts.shape)
                scores = pred.get('keypoint_scores')
                scores = np.ones(kpts.shape[:-1]) if scores is None else to_numpy(scores).astype(np.float64)
                self._draw_keypoints(pred_panel, kpts, scores, thr, show_idx, show_score, strict=True)
            if draw_heatmap and data_sample.get('pred_heatmaps') is not None:
                heat_panel = self._heatmap_panel(img, to_numpy(data_sample.pred_heatmaps), meta)
        if gt_panel is None and pred_panel is None:
            return img.copy()
        if heat_panel is not None:
            pred_panel = np.concatenate([pred_panel, heat_panel], axis=0)
            if gt_panel is not None:
                gt_panel = np.concatenate([gt_panel, img], axis=0)
        panels = [p for p in (gt_panel, pred_panel) if p is not None]
        return np.ascontiguousarray(np.concatenate(panels, axis=1))

    def add_datasample(self, name: str, image: np.ndarray, data_sample: DataSample | None = None, *,
                       draw_gt: bool = True, draw_pred: bool = True, show: bool = False, wait_time: float = 0,
                       out_file: str | Path | None = None, pred_score_thr: float = 0.3, step: int = 0,
                       kpt_thr: float | None = None, draw_heatmap: bool | None = None,
                       draw_bbox: bool | None = None, show_kpt_idx: bool | None = None,
                       show_kpt_score: bool | None = None, skeleton_style: str | None = None) -> np.ndarray:
        """:meth:`draw_sample`, then show it, write it to ``out_file`` (RGB -> BGR file), or else send it to
        the backends; returns the drawing (H' x W' x 3 uint8 RGB)."""
        drawn = self.draw_sample(image, data_sample, draw_gt=draw_gt, draw_pred=draw_pred,
                                 pred_score_thr=pred_score_thr, kpt_thr=kpt_thr, draw_heatmap=draw_heatmap,
                                 draw_bbox=draw_bbox, show_kpt_idx=show_kpt_idx, show_kpt_score=show_kpt_score,
                                 skeleton_style=skeleton_style)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            imwrite(out_file, np.ascontiguousarray(drawn[..., ::-1]), 'PoseLocalVisualizer')
        elif not show:
            self.add_image(name, drawn, step)
        return drawn

    # -- frames ---------------------------------------------------------------------------------------
    @staticmethod
    def _frame_mapper(meta: dict, image_hw: tuple[int, int]):
        """A function mapping M x 2 original-image points to the pixels of the image handed in."""
        ori = meta.get('ori_shape')
        size = meta.get('input_size')
        center, scale = meta.get('input_center'), meta.get('input_scale')
        if (ori is not None and tuple(int(v) for v in ori[:2]) == tuple(image_hw)) or size is None \
                or center is None or scale is None or (int(size[0]), int(size[1])) != (image_hw[1], image_hw[0]):
            return lambda pts: pts
        c = np.asarray(center, np.float64).reshape(-1)[:2]
        s = np.asarray(scale, np.float64).reshape(-1)[:2]
        wh = np.array([size[0], size[1]], np.float64)
        return lambda pts: (pts - c + s / 2) / s * wh  # the inverse of the estimator's back-mapping

    # -- drawing --------------------------------------------------------------------------------------
    @staticmethod
    def _as_rgb(image: np.ndarray) -> np.ndarray:
        return rgb_uint8(image, 'PoseLocalVisualizer')

    def _blend(self, img: np.ndarray, drawn: np.ndarray, mask: np.ndarray, opacity: float) -> None:
        """Where ``mask``, put ``drawn`` over ``img`` with ``opacity`` (in place)."""
        if opacity >= 1.0:
            img[mask] = drawn[mask]
        elif opacity > 0:
            img[mask] = (img[mask].astype(np.float32) * (1 - opacity) + drawn[mask].astype(np.float32) * opacity
                         ).round().astype(np.uint8)

    def _paint(self, img: np.ndarray, opacity: float, draw_fn) -> None:
        """Run ``draw_fn(canvas)`` on a copy and blend what it changed into ``img`` with ``opacity``."""
        if opacity >= 1.0:
            draw_fn(img)
            return
        canvas = img.copy()
        draw_fn(canvas)
        self._blend(img, canvas, np.any(canvas != img, axis=-1), opacity)

    def _draw_keypoints(self, img: np.ndarray, kpts: np.ndarray, scores: np.ndarray, thr: float, show_idx: bool,
                        show_score: bool, *, strict: bool) -> None:
        """``kpts`` N x K x 2 (drawing pixels), ``scores`` N x K; draws links, then keypoints, then texts.
        A keypoint is drawn when its score is ``>= thr`` (``strict``) or ``> thr`` (ground-truth visibility)."""
        import cv2
        if kpts.ndim == 2:
            kpts, scores = kpts[None], scores.reshape(1, -1)
        if kpts.ndim != 3 or kpts.shape[-1] != 2 or scores.shape != kpts.shape[:2]:
            raise ValueError(f'PoseLocalVisualizer: keypoints must be N x K x 2 with scores N x K, got '
                             f'{kpts.shape} and {scores.shape}')
        n, k = kpts.shape[:2]
        if n == 0:
            return
        h, w = img.shape[:2]
        kcolors = self._kpt_colors(k)
        links = self._links(k)
        lcolors = self._link_colors(len(links)) if links else []
        finite = np.isfinite(kpts).all(-1)
        inside = finite & (kpts[..., 0] >= -0.5) & (kpts[..., 0] < w + 0.5) & (kpts[..., 1] >= -0.5) & \
            (kpts[..., 1] < h + 0.5)
        shown = (scores >= thr if strict else scores > thr) & inside
        lt = cv2.LINE_AA
        link_lt = cv2.LINE_AA if self.line_width > 1 else cv2.LINE_8  # 1-px anti-aliased lines look faint
        for i in range(n):
            pts = np.round(np.where(finite[i, :, None], kpts[i], 0)).astype(np.int64)
            for (a, b), color in zip(links, lcolors):
                if not (shown[i, a] and shown[i, b]):
                    continue
                weight = float(np.clip(min(scores[i, a], scores[i, b]), 0, 1)) if self.show_keypoint_weight else 1.0
                p1, p2 = (int(pts[a, 0]), int(pts[a, 1])), (int(pts[b, 0]), int(pts[b, 1]))
                self._paint(img, self.alpha * weight, lambda c, p1=p1, p2=p2, color=color: cv2.line(
                    c, p1, p2, color, self.line_width, link_lt))
            for j in np.nonzero(shown[i])[0]:
                weight = float(np.clip(scores[i, j], 0, 1)) if self.show_keypoint_weight else 1.0
                center = (int(pts[j, 0]), int(pts[j, 1]))
                self._paint(img, self.alpha * weight, lambda c, center=center, color=kcolors[j]: cv2.circle(
                    c, center, self.radius, color, -1, lt))
            for j in np.nonzero(shown[i])[0]:
                parts = ([str(int(j))] if show_idx else []) + ([f'{float(scores[i, j]):.2f}'] if show_score else [])
                if parts:
                    cv2.putText(img, ':'.join(parts), (int(pts[j, 0]) + self.radius + 1, int(pts[j, 1]) - 1),
                                cv2.FONT_HERSHEY_SIMPLEX, 0.35, self.text_color, 1, lt)

    def _draw_boxes(self, img: np.ndarray, boxes: np.ndarray, scores: np.ndarray | None) -> None:
        import cv2
        for i, box in enumerate(np.asarray(boxes, np.float64).reshape(-1, 4)):
            if not np.isfinite(box).all():
                continue
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            cv2.rectangle(img, (x1, y1), (x2, y2), self.bbox_color, self.line_width)
            if scores is not None and i < len(scores):
                cv2.putText(img, f'{float(scores[i]):.2f}', (x1 + 2, max(y1 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX,
                            0.4, self.bbox_color, 1, cv2.LINE_AA)

    @staticmethod
    def _heatmap_panel(img: np.ndarray, heatmaps: np.ndarray, meta: dict) -> np.ndarray:
        """The image with the heatmaps (max over keypoints, JET colours) blended over it, same size."""
        import cv2
        if heatmaps.ndim == 2:
            heatmaps = heatmaps[None]
        h, w = img.shape[:2]
        if heatmaps.shape[1:] != (h, w):
            center, scale = meta.get('input_center'), meta.get('input_scale')
            size = meta.get('input_size')
            if center is not None and scale is not None and not (size is not None and
                                                                  (int(size[0]), int(size[1])) == (w, h)):
                heatmaps = heatmaps_to_image(heatmaps, center, scale, (h, w))
            else:  # the crop itself, or no frame information: stretch over the image
                heatmaps = np.stack([cv2.resize(np.asarray(m, np.float32), (w, h)) for m in heatmaps])
        peak = np.clip(np.max(heatmaps, axis=0), 0, 1)
        colored = cv2.applyColorMap((peak * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]  # BGR -> RGB
        return np.ascontiguousarray((img.astype(np.float32) * 0.5 + colored.astype(np.float32) * 0.5)
                                    .round().astype(np.uint8))

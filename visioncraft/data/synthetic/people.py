"""Synthetic people for top-down pose estimation: articulated figures with the 17 COCO keypoints.

Each figure faces the camera (so the person's left is on the image's right, as for a frontal COCO person): a head
ellipse with eyes, nose and ears, a torso polygon between the shoulders and the hips, and limbs drawn as thick
tapered segments between the joints, with hands and shoes. Poses come from joint-angle sampling (torso lean,
head tilt and turn, shoulder / elbow / hip / knee angles in plausible ranges, per-segment foreshortening, body
turn narrowing the shoulders and hips); people differ in size, position, skin, shirt, sleeve and trouser colours.
Backgrounds are procedural and photo-like (a sky / ground split or a smooth colour field, shaded rectangles,
stripes and blobs, lines, noise); no photo files are read, so the data depend only on the settings.

Keypoints are the joint centres in absolute pixels (pixel centres at integers, x right, y down), COCO order:
nose, left/right eye, left/right ear, left/right shoulder, elbow, wrist, hip, knee, ankle. Visibility flags follow
COCO: ``v=2`` the part the keypoint belongs to is the front-most thing drawn at its pixel; ``v=1`` it is inside
the image but covered (by another person drawn in front, an occluding blob, the figure's own arm or head, or an
ear turned away); ``v=0`` outside the image, stored as ``(0, 0, 0)`` as COCO does.

Boxes: ``bbox`` is the tight xywh box of the figure's drawn pixels (its whole silhouette, occluded parts
included) clipped to the image; ``area`` the pixel count of that silhouette inside the image.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import generated, materialize

__all__ = ['COCO_KEYPOINT_NAMES', 'COCO_SKELETON', 'generate_pose_synth', 'render_people_image']

_FORMAT_VERSION = 1

#: the 17 COCO keypoints, in COCO order
COCO_KEYPOINT_NAMES = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
                       'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
                       'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle')
#: COCO's skeleton, 1-based keypoint numbers as in person_keypoints_*.json
COCO_SKELETON = ([16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                 [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7])

# part ids of one figure (the label map stores 2 + 16 * person + part; 1 = occluding blob; 0 = background)
_HEAD, _TORSO, _L_EAR, _R_EAR = 0, 1, 2, 3
_L_UARM, _L_FARM, _R_UARM, _R_FARM = 4, 5, 6, 7
_L_THIGH, _L_SHIN, _R_THIGH, _R_SHIN = 8, 9, 10, 11
_NUM_PARTS = 16
# parts whose pixels count as showing each keypoint
_OWNERS = ((_HEAD,), (_HEAD,), (_HEAD,), (_L_EAR, _HEAD), (_R_EAR, _HEAD), (_TORSO, _L_UARM), (_TORSO, _R_UARM),
           (_L_UARM, _L_FARM), (_R_UARM, _R_FARM), (_L_FARM,), (_R_FARM,), (_TORSO, _L_THIGH), (_TORSO, _R_THIGH),
           (_L_THIGH, _L_SHIN), (_R_THIGH, _R_SHIN), (_L_SHIN,), (_R_SHIN,))


def _colour(rng: np.random.Generator, avoid: np.ndarray | None = None, min_diff: float = 120.0) -> np.ndarray:
    """A random BGR colour (float64 (3,)) at least ``min_diff`` (summed abs difference) away from ``avoid``."""
    c = rng.uniform(0, 255, size=3)
    if avoid is None:
        return c
    for _ in range(20):
        if np.abs(c - avoid).sum() >= min_diff:
            break
        c = rng.uniform(0, 255, size=3)
    else:
        c = np.where(avoid > 127, avoid - 110, avoid + 110).clip(0, 255)
    return c


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """float32 h x w x 3 BGR: a photo-like procedural scene (sky / ground or a colour field, shaded rectangles,
    stripes, blobs and lines, smooth and fine noise)."""
    import cv2
    img = np.empty((h, w, 3), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:  # a horizon: two colours with their own vertical gradients
        horizon = int(rng.uniform(0.2, 0.7) * h)
        top, bottom = rng.uniform(0, 255, size=3), rng.uniform(0, 255, size=3)
        img[:horizon] = top
        img[horizon:] = bottom
        img += ((yy / h - 0.5) * np.float32(rng.uniform(-60, 60)))[..., None]
    else:
        img[:] = rng.uniform(0, 255, size=3)
        ang = rng.uniform(0, 2 * np.pi)
        img += ((np.cos(ang) * xx / w + np.sin(ang) * yy / h) * np.float32(rng.uniform(-60, 60)))[..., None]
    g = rng.standard_normal((int(rng.integers(2, 8)), int(rng.integers(2, 8)), 3)).astype(np.float32)
    img += cv2.resize(g * np.float32(rng.uniform(5, 35)), (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(0, 6))):  # walls, windows, furniture
        x0, y0 = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
        x1, y1 = x0 + int(rng.integers(w // 10, w // 2)), y0 + int(rng.integers(h // 10, h // 2))
        col = rng.uniform(0, 255, size=3)
        cv2.rectangle(img, (x0, y0), (x1, y1), tuple(float(c) for c in col), -1)
        if rng.random() < 0.5:
            cv2.rectangle(img, (x0, y0), (x1, y1), tuple(float(c) * 0.6 for c in col), int(rng.integers(1, 4)))
    if rng.random() < 0.3:  # stripes (a fence, tiles, a shirt on a washing line)
        period, col = int(rng.integers(6, 24)), tuple(float(c) for c in rng.uniform(0, 255, size=3))
        vertical = rng.random() < 0.5
        for k in range(0, w if vertical else h, period):
            p, q = ((k, 0), (k, h)) if vertical else ((0, k), (w, k))
            cv2.line(img, p, q, col, max(1, period // 3))
    for _ in range(int(rng.integers(0, 4))):  # blobs (trees, rocks, balls)
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        axes = (int(rng.integers(4, w // 5)), int(rng.integers(4, h // 5)))
        cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0, 360,
                    tuple(float(c) for c in rng.uniform(0, 255, size=3)), -1, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 5))):  # poles, wires, edges: line clutter of limb-like widths
        p = (int(rng.integers(w)), int(rng.integers(h)))
        q = (int(rng.integers(w)), int(rng.integers(h)))
        cv2.line(img, p, q, tuple(float(c) for c in rng.uniform(0, 255, size=3)), int(rng.integers(1, 8)),
                 cv2.LINE_AA)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 2.0)))
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(rng.uniform(0, 10))
    return img


def _unit(angle: float) -> np.ndarray:
    return np.array([np.cos(angle), np.sin(angle)])


def _sample_pose(rng: np.random.Generator, height: float, centre: np.ndarray) -> dict[str, Any]:
    """Joint positions (float64 (17, 2) image px) and drawing sizes of one figure ``height`` px tall whose
    pelvis is at ``centre``."""
    H = height
    lean = np.deg2rad(rng.normal(0, 8)) if rng.random() < 0.9 else np.deg2rad(rng.uniform(-35, 35))
    up = np.array([np.sin(lean), -np.cos(lean)])     # towards the head (y is down)
    right = np.array([np.cos(lean), np.sin(lean)])   # the image's right = the person's left (frontal)
    turn = rng.uniform(0.55, 1.0)                    # body turn: narrows shoulders and hips
    kp = np.zeros((17, 2))
    pelvis = np.asarray(centre, np.float64)
    neck = pelvis + up * 0.30 * H * rng.uniform(0.85, 1.05)
    sw, hw = 0.12 * H * turn, 0.075 * H * turn
    kp[5], kp[6] = neck + sw * right, neck - sw * right
    kp[11], kp[12] = pelvis + hw * right, pelvis - hw * right
    # head: tilt about the neck, turn shifts the face sideways
    tilt = np.deg2rad(rng.normal(0, 10))
    head_up = np.cos(tilt) * up + np.sin(tilt) * right
    head_right = np.array([-head_up[1], head_up[0]])
    head_r = 0.065 * H * rng.uniform(0.9, 1.1)
    head_c = neck + head_up * (0.055 * H + head_r)
    yaw = float(rng.uniform(-0.6, 0.6))
    face = head_c + head_right * yaw * 0.55 * head_r
    kp[0] = face - head_up * 0.15 * head_r
    kp[1] = face + head_up * 0.3 * head_r + head_right * 0.4 * head_r
    kp[2] = face + head_up * 0.3 * head_r - head_right * 0.4 * head_r
    kp[3] = head_c + head_right * head_r * (1.0 - 0.3 * max(0.0, yaw)) + head_up * 0.15 * head_r
    kp[4] = head_c - head_right * head_r * (1.0 + 0.3 * min(0.0, yaw)) + head_up * 0.15 * head_r
    down = -up

    def limb(root: np.ndarray, side: np.ndarray, theta: float, bend: float, l1: float, l2: float):
        d1 = np.cos(theta) * down + np.sin(theta) * side
        mid = root + d1 * l1 * rng.uniform(0.65, 1.0)
        t2 = theta + bend
        d2 = np.cos(t2) * down + np.sin(t2) * side
        return mid, mid + d2 * l2 * rng.uniform(0.65, 1.0)

    for sign, (s, e, w) in ((1, (5, 7, 9)), (-1, (6, 8, 10))):  # left arm on the image's right
        theta = np.deg2rad(rng.uniform(-40, 175) if rng.random() < 0.7 else rng.uniform(-40, 40))
        bend = np.deg2rad(rng.uniform(-150, 150) if rng.random() < 0.6 else rng.uniform(-30, 30))
        kp[e], kp[w] = limb(kp[s], sign * right, theta, bend, 0.17 * H, 0.15 * H)
    for sign, (hp, k, a) in ((1, (11, 13, 15)), (-1, (12, 14, 16))):
        theta = np.deg2rad(rng.uniform(-20, 35) if rng.random() < 0.8 else rng.uniform(-20, 95))
        bend = np.deg2rad(rng.uniform(-60, 20) if rng.random() < 0.8 else rng.uniform(-130, 30))
        kp[k], kp[a] = limb(kp[hp], sign * right, theta, bend, 0.24 * H, 0.24 * H)
    return dict(kp=kp, up=up, right=right, head_c=head_c, head_r=head_r, head_up=head_up, yaw=yaw, H=H, turn=turn)


def _draw_figure(img: np.ndarray, labels: np.ndarray, code: int, pose: dict, rng: np.random.Generator,
                 bg_mean: np.ndarray) -> np.ndarray:
    """Draw one figure on ``img`` (float32 HxWx3) and ``labels`` (int32 HxW, ``code + part``); return its own
    silhouette (bool HxW)."""
    import cv2
    kp, H = pose['kp'], pose['H']
    h, w = labels.shape
    sil = np.zeros((h, w), np.uint8)
    skin = np.array([rng.uniform(40, 200), rng.uniform(70, 210), rng.uniform(110, 240)])
    shirt = _colour(rng, bg_mean)
    trousers = _colour(rng, bg_mean)
    shoes = _colour(rng, bg_mean, 80)
    sleeve = rng.choice(['long', 'short', 'none'], p=[0.45, 0.35, 0.2])
    shade = rng.uniform(0.7, 1.0)  # the limbs of the far side a little darker
    f = 16  # fixed-point shift for sub-pixel polygons

    def poly(points: np.ndarray, colour: np.ndarray, part: int) -> None:
        pts = np.round(np.asarray(points) * (1 << 4)).astype(np.int32)[None]
        cv2.fillPoly(img, pts, tuple(float(c) for c in colour), cv2.LINE_AA, 4)
        cv2.fillPoly(labels, pts, code + part, cv2.LINE_8, 4)
        cv2.fillPoly(sil, pts, 1, cv2.LINE_8, 4)

    def disc(c: np.ndarray, r: float, colour: np.ndarray, part: int, axes: tuple | None = None, ang: float = 0) -> None:
        cc = tuple(int(round(v * f)) for v in c)
        ax = tuple(int(round(max(v, 0.5) * f)) for v in (axes or (r, r)))
        cv2.ellipse(img, cc, ax, ang, 0, 360, tuple(float(x) for x in colour), -1, cv2.LINE_AA, 4)
        cv2.ellipse(labels, cc, ax, ang, 0, 360, code + part, -1, cv2.LINE_8, 4)
        cv2.ellipse(sil, cc, ax, ang, 0, 360, 1, -1, cv2.LINE_8, 4)

    def segment(p: np.ndarray, q: np.ndarray, w1: float, w2: float, colour: np.ndarray, part: int) -> None:
        d = q - p
        n = np.array([-d[1], d[0]]) / max(np.hypot(*d), 1e-6)
        poly(np.stack([p + n * w1 / 2, q + n * w2 / 2, q - n * w2 / 2, p - n * w1 / 2]), colour, part)
        disc(p, w1 / 2, colour, part)
        disc(q, w2 / 2, colour, part)

    def leg(hp: int, k: int, a: int, thigh: int, shin: int, s: float) -> None:
        segment(kp[hp], kp[k], 0.095 * H, 0.07 * H, trousers * s, thigh)
        segment(kp[k], kp[a], 0.07 * H, 0.05 * H, trousers * s, shin)
        foot_dir = kp[a] - kp[k]
        foot_dir = foot_dir / max(np.hypot(*foot_dir), 1e-6)
        disc(kp[a] + foot_dir * 0.02 * H, 0, shoes * s, shin, (0.045 * H, 0.025 * H),
             float(np.degrees(np.arctan2(pose['up'][1], pose['up'][0]))))

    def arm(sh: int, el: int, wr: int, upper: int, fore: int, s: float) -> None:
        segment(kp[sh], kp[el], 0.065 * H, 0.05 * H, (shirt if sleeve != 'none' else skin) * s, upper)
        segment(kp[el], kp[wr], 0.05 * H, 0.04 * H, (shirt if sleeve == 'long' else skin) * s, fore)
        disc(kp[wr], 0.028 * H, skin * s, fore)

    # far-side limbs first (the side with the darker shade), then the torso, then the near side, then the head
    near_left = rng.random() < 0.5
    s_left, s_right = (1.0, shade) if near_left else (shade, 1.0)
    legs = [(11, 13, 15, _L_THIGH, _L_SHIN, s_left), (12, 14, 16, _R_THIGH, _R_SHIN, s_right)]
    arms = [(5, 7, 9, _L_UARM, _L_FARM, s_left), (6, 8, 10, _R_UARM, _R_FARM, s_right)]
    if near_left:
        legs.reverse()
        arms.reverse()
    for args in legs:
        leg(*args)
    arm_behind = rng.random() < 0.15  # sometimes one arm goes behind the back
    if arm_behind:
        arm(*arms[0])
    # torso: shoulders, a little waist, hips (grown to cover the limb roots)
    up, right = pose['up'], pose['right']
    sh_l, sh_r, hp_l, hp_r = kp[5], kp[6], kp[11], kp[12]
    grow = 0.03 * H
    torso = np.stack([sh_l + right * grow * 0.5 + up * grow * 0.5, sh_r - right * grow * 0.5 + up * grow * 0.5,
                      (sh_r + hp_r) / 2 - right * grow * 0.3, hp_r - right * grow - up * grow,
                      hp_l + right * grow - up * grow, (sh_l + hp_l) / 2 + right * grow * 0.3])
    poly(torso, shirt, _TORSO)
    belt = np.stack([hp_r - right * grow + up * grow * 0.6, hp_l + right * grow + up * grow * 0.6,
                     hp_l + right * grow - up * grow, hp_r - right * grow - up * grow])
    poly(belt, trousers, _TORSO)
    for args in arms[0 if not arm_behind else 1:]:
        arm(*args)
    # neck, ears, head, face
    neck = (sh_l + sh_r) / 2
    segment(neck, neck + pose['head_up'] * 0.07 * H, 0.05 * H, 0.045 * H, skin * 0.9, _HEAD)
    head_up, r, yaw = pose['head_up'], pose['head_r'], pose['yaw']
    ang = float(np.degrees(np.arctan2(head_up[1], head_up[0])))
    ear_col = skin * 0.85
    if yaw < 0.3:   # the face turned towards the image's right hides the left ear behind the head
        disc(kp[3], 0.28 * r, ear_col, _L_EAR, (0.32 * r, 0.2 * r), ang)
    if yaw > -0.3:
        disc(kp[4], 0.28 * r, ear_col, _R_EAR, (0.32 * r, 0.2 * r), ang)
    disc(pose['head_c'], r, skin, _HEAD, (1.15 * r, 0.9 * r), ang)
    if rng.random() < 0.6:  # hair on top
        hair = _colour(rng) * 0.5
        cap = pose['head_c'] + head_up * 0.45 * r
        disc(cap, r, hair, _HEAD, (0.7 * r, 0.85 * r), ang)
    eye_col = np.array([30.0, 30.0, 30.0]) if skin.mean() > 90 else np.array([235.0, 235.0, 235.0])
    for e in (1, 2):
        disc(kp[e], 0.12 * r, eye_col, _HEAD)
    disc(kp[0], 0.11 * r, skin * 0.6, _HEAD)
    return sil.astype(bool)


def render_people_image(rng: np.random.Generator, img_size: tuple[int, int] = (320, 240),
                        people_per_image: tuple[int, int] = (1, 3), height_range: tuple[float, float] = (0.4, 0.95),
                        occluder_prob: float = 0.35) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Render one picture of ``people_per_image`` figures.

    Args:
        rng: the generator (the picture is a function of its state).
        img_size: (w, h) in pixels.
        people_per_image: (lo, hi) inclusive.
        height_range: figure height as a fraction of the image height (lo, hi).
        occluder_prob: chance that the picture gets 1-2 occluding blobs over some person's joints.

    Returns:
        ``(img, background, people)``: ``img`` and ``background`` are h x w x 3 uint8 BGR (the picture and the
        picture's background before any figure was drawn); ``people`` lists, back to front, dicts with
        ``keypoints`` float64 (17, 3) ``[x, y, v]`` (COCO flags; ``(0, 0, 0)`` outside the image),
        ``bbox`` [x, y, w, h] (tight box of the silhouette clipped to the image), ``area`` (its pixel count).
        Figures whose silhouette misses the image are left out.
    """
    import cv2
    w, h = int(img_size[0]), int(img_size[1])
    bg = _background(rng, h, w)
    img = bg.copy()
    labels = np.zeros((h, w), np.int32)
    n = int(rng.integers(people_per_image[0], people_per_image[1] + 1))
    heights = np.sort(rng.uniform(height_range[0], height_range[1], size=n) * h)  # small (far) first
    poses, sils = [], []
    for i, H in enumerate(heights):
        cx = rng.uniform(0.08, 0.92) * w
        cy = rng.uniform(0.5 * H - 0.1 * H, h - 0.5 * H + 0.1 * H) if h > 0.8 * H else h / 2
        pose = _sample_pose(rng, float(H), np.array([cx, cy]))
        local = img[max(0, int(cy - H / 2)):int(cy + H / 2), max(0, int(cx - H / 4)):int(cx + H / 4)]
        bg_mean = local.reshape(-1, 3).mean(0) if local.size else img.reshape(-1, 3).mean(0)
        sils.append(_draw_figure(img, labels, 2 + _NUM_PARTS * i, pose, rng, bg_mean.astype(np.float64)))
        poses.append(pose)
    if n and rng.random() < occluder_prob:  # blobs over random joints
        for _ in range(int(rng.integers(1, 3))):
            kp = poses[int(rng.integers(n))]['kp'][int(rng.integers(5, 17))]
            r = float(rng.uniform(0.04, 0.1)) * h
            c = tuple(int(round(v + rng.normal(0, r / 2))) for v in kp)
            axes = (int(r), int(r * rng.uniform(0.5, 1.5)))
            angle = float(rng.uniform(0, 180))
            cv2.ellipse(img, c, axes, angle, 0, 360, tuple(float(v) for v in rng.uniform(0, 255, size=3)), -1,
                        cv2.LINE_AA)
            cv2.ellipse(labels, c, axes, angle, 0, 360, 1, -1)
    # photometric finish: slight blur, noise, brightness / contrast
    if rng.random() < 0.4:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 1.0)))
    img = img * np.float32(rng.uniform(0.8, 1.2)) + np.float32(rng.uniform(-20, 20))
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(0, 5))
    people = []
    for i, (pose, sil) in enumerate(zip(poses, sils)):
        ys, xs = np.nonzero(sil)
        if not len(xs):
            continue
        out = np.zeros((17, 3))
        code = 2 + _NUM_PARTS * i
        for k, (x, y) in enumerate(pose['kp']):
            xi, yi = int(round(x)), int(round(y))
            if not (0 <= xi < w and 0 <= yi < h):
                continue
            lab = int(labels[yi, xi]) - code
            visible = 0 <= lab < _NUM_PARTS and lab in _OWNERS[k]
            if k == 3 and pose['yaw'] >= 0.3 or k == 4 and pose['yaw'] <= -0.3:
                visible = False  # the hidden ear is labelled where it would be
            out[k] = (x, y, 2 if visible else 1)
        people.append(dict(keypoints=out, bbox=[float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                                                float(ys.max() - ys.min() + 1)], area=float(len(xs))))
    return (np.clip(np.rint(img), 0, 255).astype(np.uint8), np.clip(np.rint(bg), 0, 255).astype(np.uint8), people)


def generate_pose_synth(root: str | os.PathLike, num_train: int = 3000, num_val: int = 300, seed: int = 0, *,
                        img_size: tuple[int, int] = (320, 240), people_per_image: tuple[int, int] = (1, 3),
                        height_range: tuple[float, float] = (0.4, 0.95), occluder_prob: float = 0.35,
                        jpeg_quality: int = 90) -> Path:
    """Write a synthetic COCO-keypoints data set under ``root`` and return ``root``.

    Layout (MMPose's COCO layout; image and annotation ids count from 1 in each split)::

        {split}/NNNNNN.jpg                        w x h BGR JPEG
        annotations/person_keypoints_{split}.json COCO keypoints: images, annotations (keypoints [x, y, v] * 17,
                                                  num_keypoints, bbox xywh, area, iscrowd 0, category_id 1),
                                                  categories (person, keypoint names, 1-based skeleton)

    ``split`` is ``train`` / ``val``. The same arguments give the same bytes; a folder made with other settings is
    regenerated; concurrent callers are safe (see :func:`visioncraft.data.synthetic.materialize`). See
    :func:`render_people_image` for the pictures and the module docstring for the labels.
    """
    if num_train < 0 or num_val < 0:
        raise ValueError(f'generate_pose_synth: num_train / num_val must be >= 0, got {num_train} / {num_val}')
    if len(img_size) != 2 or min(img_size) < 32:
        raise ValueError(f'generate_pose_synth: img_size must be (w, h) with both >= 32, got {img_size}')
    if len(people_per_image) != 2 or not 1 <= people_per_image[0] <= people_per_image[1]:
        raise ValueError(f'generate_pose_synth: people_per_image must be (lo, hi) with 1 <= lo <= hi, '
                         f'got {people_per_image}')
    if len(height_range) != 2 or not 0 < height_range[0] <= height_range[1]:
        raise ValueError(f'generate_pose_synth: height_range must be (lo, hi) with 0 < lo <= hi, got {height_range}')
    if not 0 <= occluder_prob <= 1 or not 1 <= jpeg_quality <= 100:
        raise ValueError(f'generate_pose_synth: need 0 <= occluder_prob <= 1 and 1 <= jpeg_quality <= 100, got '
                         f'{occluder_prob}, {jpeg_quality}')
    settings: dict[str, Any] = {
        'version': _FORMAT_VERSION, 'num_train': int(num_train), 'num_val': int(num_val), 'seed': int(seed),
        'img_size': [int(v) for v in img_size], 'people_per_image': [int(v) for v in people_per_image],
        'height_range': [float(v) for v in height_range], 'occluder_prob': float(occluder_prob),
        'jpeg_quality': int(jpeg_quality)}

    def stored(folder: Path) -> dict | None:
        try:
            if not (folder / 'annotations' / 'person_keypoints_val.json').is_file():
                return None
            return json.loads((folder / 'annotations' / 'person_keypoints_train.json').read_text())['info'].get(
                'generated_with')
        except (OSError, ValueError, KeyError):
            return None

    def write(tmp: Path) -> None:
        import cv2
        (tmp / 'annotations').mkdir(parents=True)
        category = {'id': 1, 'name': 'person', 'supercategory': 'person', 'keypoints': list(COCO_KEYPOINT_NAMES),
                    'skeleton': [list(s) for s in COCO_SKELETON]}
        for split, n, offset in (('train', num_train, 0), ('val', num_val, 1_000_000)):
            (tmp / split).mkdir()
            images, annotations = [], []
            for i in generated(range(1, n + 1)):
                rng = np.random.default_rng([seed, offset + i])
                img, _, people = render_people_image(rng, tuple(img_size), tuple(people_per_image),
                                                     tuple(height_range), occluder_prob)
                name = f'{i:06d}.jpg'
                ok, buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
                if not ok:
                    raise RuntimeError(f'generate_pose_synth: could not encode {split}/{name}')
                (tmp / split / name).write_bytes(buf.tobytes())
                images.append({'id': i, 'file_name': name, 'width': int(img_size[0]), 'height': int(img_size[1])})
                for person in people:
                    kps = person['keypoints']
                    annotations.append({
                        'id': len(annotations) + 1, 'image_id': i, 'category_id': 1, 'iscrowd': 0,
                        'keypoints': [round(float(v), 2) for v in kps.reshape(-1)],
                        'num_keypoints': int((kps[:, 2] > 0).sum()),
                        'bbox': [round(float(v), 2) for v in person['bbox']], 'area': round(person['area'], 2)})
            coco = {'info': {'description': f'visioncraft synthetic people ({split})', 'generated_with': settings},
                    'images': images, 'annotations': annotations, 'categories': [category]}
            (tmp / 'annotations' / f'person_keypoints_{split}.json').write_text(json.dumps(coco))

    return materialize(root, settings, stored, write)

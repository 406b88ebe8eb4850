"""``visioncraft predict IMG_OR_DIR --model-dir DIR`` for a pose export (``task: pose`` in ``inference.json``): every
image is one person box (the whole image, as MMPose's ``demo/image_demo.py``), run through
:class:`~visioncraft.export.PosePredictor`.

Writes, as ``visioncraft pose --out-dir`` does: ``OUT/predictions/<stem>.json`` (MMPose's per-person list:
``[{"keypoints": [[x, y], ...], "keypoint_scores": [...], "bbox": [[x1, y1, x2, y2]], "bbox_score": s}]``, image
pixels) and, unless ``--no-draw``, ``OUT/visualizations/<file name>`` (the skeleton drawn with the export's
``dataset_meta``: keypoint colours and links; keypoints scoring below 0.3 are not drawn).
"""
from __future__ import annotations

import time
from pathlib import Path

from ..apis.inputs import list_images
from ..apis.pose import split_instances
from ..apis.writers import write_json, write_picture
from ..fileio.image import read_image
from ..tasks.pose.visualization import PoseLocalVisualizer

__all__ = ['run_pose_predictor']


def run_pose_predictor(predictor, inputs: str | Path, out_dir: str | Path, *, draw: bool = True,
                       kpt_thr: float = 0.3) -> dict[str, list[dict]]:
    """Estimate the pose in every image of ``inputs`` with ``predictor`` (a :class:`PosePredictor`); write the JSON
    files and pictures under ``out_dir``. Returns ``{file name: persons}`` (the JSON content)."""
    files = list_images(inputs)
    out = Path(out_dir)
    visualizer = None
    if draw:
        visualizer = PoseLocalVisualizer(name='visioncraft_predict_pose')
        visualizer.dataset_meta = dict(predictor.dataset_meta)
    results: dict[str, list[dict]] = {}
    total = 0.0
    for f in files:
        img, path = read_image(f, 'visioncraft predict')
        t0 = time.perf_counter()
        sample = predictor(img)
        total += time.perf_counter() - t0
        persons = split_instances(sample.pred_instances)
        results[f.name] = persons
        write_json(out / 'predictions' / f'{f.stem}.json', persons)
        if visualizer is not None:
            drawn = visualizer.draw_sample(img[..., ::-1], sample, draw_gt=False, draw_pred=True, kpt_thr=kpt_thr)
            write_picture(out / 'visualizations' / f.name, drawn, 'visioncraft predict')
        print(f'{f}: {len(persons)} person(s)')
    print(f'{len(files)} images in {total:.2f} s (model + pre/post-processing); results in {out / "predictions"}')
    return results

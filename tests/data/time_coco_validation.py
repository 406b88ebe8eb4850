"""How long the annotation checks take on a generated COCO file: ``python tests/data/time_coco_validation.py
[NUM_ANNOTATIONS]`` (default 50000 annotations on 5000 images, a 5-point polygon each). Prints the JSON parsing
time, the time of :func:`visioncraft.data.validation.check_coco` (best of 5) and of a whole ``CocoDataset`` build
(best of 2). Not a test: a measurement to run by hand."""
from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path


def make_coco(path: Path, n_ann: int = 50000, n_img: int = 5000, seed: int = 0) -> None:
    rng = random.Random(seed)
    images = [dict(id=i + 1, file_name=f'{i:06d}.jpg', width=640, height=480) for i in range(n_img)]
    cats = [dict(id=c + 1, name=f'c{c}') for c in range(80)]
    anns = []
    for k in range(n_ann):
        x, y, w, h = rng.uniform(0, 500), rng.uniform(0, 380), rng.uniform(2, 100), rng.uniform(2, 100)
        poly = [x, y, x + w, y, x + w, y + h, x, y + h, x + w / 2, y + h / 2]
        anns.append(dict(id=k + 1, image_id=rng.randrange(n_img) + 1, category_id=rng.randrange(80) + 1,
                         bbox=[round(v, 2) for v in (x, y, w, h)], area=round(w * h, 2), iscrowd=0,
                         segmentation=[[round(v, 2) for v in poly]]))
    path.write_text(json.dumps(dict(images=images, annotations=anns, categories=cats)))


def main() -> None:
    import visioncraft  # noqa: F401  (fills the registries)
    from visioncraft.data.validation import RecordFaults, check_coco
    from visioncraft.errors import read_json
    from visioncraft.tasks.detection.datasets import CocoDataset
    n_ann = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'coco.json'
        make_coco(path, n_ann, max(1, n_ann // 10))
        t0 = time.perf_counter()
        data = read_json(path)
        parse = time.perf_counter() - t0
        checks = []
        for _ in range(5):
            t0 = time.perf_counter()
            check_coco(data, RecordFaults('CocoDataset', path))
            checks.append(time.perf_counter() - t0)
        builds = []
        for _ in range(2):
            t0 = time.perf_counter()
            CocoDataset(ann_file=str(path), metainfo=dict(classes=tuple(f'c{c}' for c in range(80))))
            builds.append(time.perf_counter() - t0)
    print(f'{n_ann} annotations: JSON parsing {parse:.2f} s, checks {min(checks):.3f} s, '
          f'whole CocoDataset build {min(builds):.2f} s')


if __name__ == '__main__':
    main()

"""Walk every command of the four guides in shared/seeds (MMOCR, MMPose, MMDetection, PaddleOCR text detection) as
a user of those toolboxes would type it, and count how many run as written.

The commands are data (tools/compat/guide_commands.json: the command, the template filled in where the guide gives
one, the category and why). Only the ``runs`` category runs here; ``gpu`` commands run too when this machine has
as many CUDA devices as they need; ``second_machine``, ``network``, ``slurm`` and ``camera`` are counted apart.

Each guide gets its own stand-in workspace in a temporary folder, laid out as the guide's repository root:
``configs/``, ``tools/`` and the ``demo/*.py`` scripts of this repository (symbolic links), tiny generated datasets
where the configs look (``data/coco``, ``data/VOCdevkit``, ``data/cityscapes``, ``data/icdar2015``,
``train_data/icdar2015/text_localization``, ``doc/imgs_en``, ``demo/demo.jpg`` ...) and random-weight checkpoints at
the guide's checkpoint paths (the state dict of the model our code builds from the config the guide names; where
that path does not exist yet, from the config under its current name, said in the output). Commands run in guide
order in one workspace per guide, so what one writes (a work dir, an exported model) is there for the next, as for
a user. The only change to a command is its ``shrink`` suffix (e.g. ``--cfg-options train_cfg.max_epochs=1``),
recorded in the data file.

    python tools/compat/guides.py [--guide mmdet ...] [--only ID ...] [--timeout 600] [--keep] [--md FILE]

Exit status 0 (the numbers are the result; ``--fail-under N`` makes it 1 when fewer than N run).
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA_FILE = Path(__file__).with_name('guide_commands.json')
CATEGORIES = {
    'runs': 'runs on one machine without a GPU',
    'gpu': 'needs GPUs',
    'second_machine': 'needs a second machine',
    'network': 'needs the network',
    'slurm': 'needs a Slurm cluster',
    'camera': 'needs a camera',
}
GUIDES = ('mmocr', 'mmpose', 'mmdet', 'paddleocr')

__all__ = ['GuideCommand', 'load_commands', 'make_datasets', 'make_checkpoints', 'prepare_workspace', 'walk',
           'CHECKPOINTS']


@dataclass(frozen=True)
class GuideCommand:
    id: str
    guide: str
    line: int
    command: str                 # as the guide writes it
    category: str
    run: str | None = None       # the template filled in (None: the command runs as written)
    shrink: str = ''             # appended for a tiny run
    reason: str = ''
    gpus: int = 0
    server: bool = False         # a long-running server: passes when still running after a few seconds
    note: str = ''

    @property
    def shell(self) -> str:
        """The line handed to bash."""
        return (self.run or self.command) + self.shrink


_FIELDS = {'id', 'guide', 'line', 'command', 'category', 'run', 'shrink', 'reason', 'gpus', 'server', 'note'}


def load_commands(path: str | os.PathLike = DATA_FILE) -> list[GuideCommand]:
    """The commands of ``path``, checked: known fields and category, a reason for every category but ``runs``,
    ``gpus`` >= 1 for ``gpu``, unique ids. Errors name the file, the entry and the field."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f'{path}: cannot read the guide commands: {exc}')
    if not isinstance(doc, dict) or not isinstance(doc.get('commands'), list):
        raise SystemExit(f'{path}: expected an object with a "commands" list')
    out, seen = [], set()
    for i, entry in enumerate(doc['commands']):
        where = f'{path}: commands[{i}]'
        if not isinstance(entry, dict):
            raise SystemExit(f'{where}: expected an object, got {type(entry).__name__}')
        unknown = set(entry) - _FIELDS
        if unknown:
            raise SystemExit(f'{where} ({entry.get("id")}): unknown field(s) {sorted(unknown)}; known: {sorted(_FIELDS)}')
        for key in ('id', 'guide', 'line', 'command', 'category'):
            if key not in entry:
                raise SystemExit(f'{where}: missing "{key}"')
        cmd = GuideCommand(**entry)
        where = f'{path}: command {cmd.id!r}'
        if cmd.guide not in GUIDES:
            raise SystemExit(f'{where}: guide {cmd.guide!r} is not one of {GUIDES}')
        if cmd.category not in CATEGORIES:
            raise SystemExit(f'{where}: category {cmd.category!r} is not one of {sorted(CATEGORIES)}')
        if cmd.category != 'runs' and not cmd.reason:
            raise SystemExit(f'{where}: category {cmd.category!r} needs a "reason"')
        if cmd.category == 'gpu' and cmd.gpus < 1:
            raise SystemExit(f'{where}: category "gpu" needs "gpus" >= 1')
        if cmd.id in seen:
            raise SystemExit(f'{where}: the id is used twice')
        if cmd.category in ('runs', 'gpu') and '${' in cmd.shell:
            raise SystemExit(f'{where}: a template (${{...}}) needs a "run" line with the placeholders filled')
        seen.add(cmd.id)
        out.append(cmd)
    return out


# ----------------------------------------------------------------------------------------------- tiny datasets
def _rng(seed: int):
    import numpy as np
    return np.random.default_rng(seed)


def _image(path: Path, w: int, h: int, seed: int, boxes=()):
    """A noisy picture with filled rectangles at ``boxes`` (x1, y1, x2, y2), written with OpenCV."""
    import cv2
    import numpy as np
    rng = _rng(seed)
    img = rng.integers(0, 80, size=(h, w, 3), dtype=np.uint8)
    for x1, y1, x2, y2 in boxes:
        img[int(y1):int(y2), int(x1):int(x2)] = rng.integers(120, 255, size=3, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise OSError(f'could not write {path}')
    return img


_COCO_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32,
             33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59,
             60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90]
W, H = 160, 120   # every generated image


def _boxes(seed: int, n: int = 2):
    rng = _rng(seed + 1000)
    out = []
    for _ in range(n):
        x1, y1 = float(rng.integers(5, W // 2)), float(rng.integers(5, H // 2))
        out.append((x1, y1, x1 + float(rng.integers(40, W // 2 - 5)), y1 + float(rng.integers(35, H // 2 - 5))))
    return out


def _h(text: str) -> int:
    """A stable small number from ``text`` (Python's ``hash`` of a str changes between processes)."""
    import zlib
    return zlib.crc32(text.encode())


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding='utf-8')


def _coco_detection(root: Path, n: int = 2) -> None:
    from visioncraft.tasks.detection.datasets.coco import COCO_CLASSES
    cats = [dict(id=i, name=name, supercategory='none') for i, name in zip(_COCO_IDS, COCO_CLASSES)]
    for split in ('train2017', 'val2017', 'test2017'):
        images, anns = [], []
        for i in range(n):
            seed = _h(split) % 997 + i
            boxes = _boxes(seed)
            name = f'{split}_{i:06d}.jpg'
            _image(root / split / name, W, H, seed, boxes)
            images.append(dict(id=i + 1, file_name=name, width=W, height=H))
            for j, (x1, y1, x2, y2) in enumerate(boxes):
                anns.append(dict(id=len(anns) + 1, image_id=i + 1, category_id=_COCO_IDS[(i + j) % 3], iscrowd=0,
                                 bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1),
                                 segmentation=[[x1, y1, x2, y1, x2, y2, x1, y2]]))
        if split == 'test2017':
            _write_json(root / 'annotations' / 'image_info_test-dev2017.json',
                        dict(images=images, annotations=[], categories=cats))
        else:
            _write_json(root / 'annotations' / f'instances_{split}.json',
                        dict(images=images, annotations=anns, categories=cats))
    (root.parent.parent / 'classes.txt').write_text('\n'.join(COCO_CLASSES) + '\n', encoding='utf-8')


def _coco_keypoints(root: Path, n: int = 2) -> None:
    from visioncraft.data.synthetic.people import COCO_KEYPOINT_NAMES, COCO_SKELETON
    cat = dict(id=1, name='person', supercategory='person', keypoints=list(COCO_KEYPOINT_NAMES),
               skeleton=[[a + 1, b + 1] for a, b in COCO_SKELETON])
    dets = []
    for split in ('train2017', 'val2017'):
        images, anns = [], []
        for i in range(n):
            seed = 500 + _h(split) % 97 + i
            x1, y1, x2, y2 = 40.0, 10.0, 100.0, 110.0
            name = f'person_{split}_{i:06d}.jpg'
            _image(root / split / name, W, H, seed, [(x1, y1, x2, y2)])
            rng = _rng(seed)
            kpts = []
            for _ in COCO_KEYPOINT_NAMES:
                kpts += [float(rng.uniform(x1, x2)), float(rng.uniform(y1, y2)), 2]
            images.append(dict(id=1000 * (split == 'val2017') + i + 1, file_name=name, width=W, height=H))
            anns.append(dict(id=len(anns) + 1, image_id=images[-1]['id'], category_id=1, iscrowd=0,
                             bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1), num_keypoints=17,
                             keypoints=kpts, segmentation=[[x1, y1, x2, y1, x2, y2, x1, y2]]))
            if split == 'val2017':
                dets.append(dict(image_id=images[-1]['id'], category_id=1, bbox=[x1, y1, x2 - x1, y2 - y1],
                                 score=0.99))
        # the person images sit next to the detection images of the same split (one COCO folder, as upstream)
        _write_json(root / 'annotations' / f'person_keypoints_{split}.json',
                    dict(images=images, annotations=anns, categories=[cat]))
    _write_json(root / 'person_detection_results' / 'COCO_val2017_detections_AP_H_56_person.json', dets)


def _voc(root: Path, n: int = 2) -> None:
    from visioncraft.tasks.detection.datasets.voc import VOC_CLASSES
    for year in ('VOC2007', 'VOC2012'):
        base = root / year
        ids = []
        for i in range(n):
            sid = f'{year[-4:]}_{i:06d}'
            boxes = _boxes(_h(year) % 89 + i)
            _image(base / 'JPEGImages' / f'{sid}.jpg', W, H, i, boxes)
            objs = ''.join(
                f'<object><name>{VOC_CLASSES[(i + j) % len(VOC_CLASSES)]}</name><pose>Unspecified</pose>'
                f'<truncated>0</truncated><difficult>0</difficult><bndbox><xmin>{int(x1) + 1}</xmin>'
                f'<ymin>{int(y1) + 1}</ymin><xmax>{int(x2)}</xmax><ymax>{int(y2)}</ymax></bndbox></object>'
                for j, (x1, y1, x2, y2) in enumerate(boxes))
            (base / 'Annotations').mkdir(parents=True, exist_ok=True)
            (base / 'Annotations' / f'{sid}.xml').write_text(
                f'<annotation><folder>{year}</folder><filename>{sid}.jpg</filename><size><width>{W}</width>'
                f'<height>{H}</height><depth>3</depth></size>{objs}</annotation>', encoding='utf-8')
            ids.append(sid)
        main = base / 'ImageSets' / 'Main'
        main.mkdir(parents=True, exist_ok=True)
        for name in ('trainval', 'train', 'val', 'test'):
            (main / f'{name}.txt').write_text('\n'.join(ids) + '\n', encoding='utf-8')


def _cityscapes(root: Path, n: int = 2) -> None:
    """leftImg8bit/<split>/<city>/*_leftImg8bit.png and gtFine/<split>/<city>/*_gtFine_polygons.json; the
    annotations/*.json are written by the guide's own converter command (and here too, so that the test commands
    do not depend on it: the converter writes them again)."""
    from visioncraft.tasks.detection.converters import CITYSCAPES_CLASSES
    labels = list(CITYSCAPES_CLASSES)
    for split in ('train', 'val'):
        for i in range(n):
            stem = f'aachen_{i:06d}_000019'
            boxes = _boxes(200 + i)
            _image(root / 'leftImg8bit' / split / 'aachen' / f'{stem}_leftImg8bit.png', W, H, 200 + i, boxes)
            objects = [dict(label=labels[(i + j) % len(labels)],
                            polygon=[[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
                       for j, (x1, y1, x2, y2) in enumerate(boxes)]
            _write_json(root / 'gtFine' / split / 'aachen' / f'{stem}_gtFine_polygons.json',
                        dict(imgHeight=H, imgWidth=W, objects=objects))


def _icdar2015_mmocr(root: Path, n: int = 2) -> None:
    """MMOCR 1.x layout: textdet_imgs/{train,test}/img_N.jpg and textdet_{train,test}.json."""
    for split in ('train', 'test'):
        data_list = []
        for i in range(n):
            boxes = _boxes(300 + i)
            rel = f'textdet_imgs/{split}/img_{i + 1}.jpg'
            _image(root / rel, W, H, 300 + i, boxes)
            data_list.append(dict(img_path=rel, height=H, width=W, seg_map=f'gt_img_{i + 1}.txt', instances=[
                dict(polygon=[x1, y1, x2, y1, x2, y2, x1, y2], bbox=[x1, y1, x2, y2], bbox_label=0, ignore=False)
                for x1, y1, x2, y2 in boxes]))
        _write_json(root / f'textdet_{split}.json', dict(
            metainfo=dict(dataset_type='TextDetDataset', task_name='textdet',
                          category=[dict(id=0, name='text')]), data_list=data_list))


def _icdar2015_paddle(root: Path, n: int = 2) -> None:
    """PaddleOCR layout: icdar_c4_train_imgs/, ch4_test_images/ and the two label files (path TAB json)."""
    for folder, label in (('icdar_c4_train_imgs', 'train_icdar2015_label.txt'),
                          ('ch4_test_images', 'test_icdar2015_label.txt')):
        lines = []
        for i in range(n):
            boxes = _boxes(400 + i)
            rel = f'{folder}/img_{i + 1}.jpg'
            _image(root / rel, W, H, 400 + i, boxes)
            anns = [dict(transcription='TEXT', points=[[int(x1), int(y1)], [int(x2), int(y1)], [int(x2), int(y2)],
                                                       [int(x1), int(y2)]]) for x1, y1, x2, y2 in boxes]
            lines.append(f'{rel}\t{json.dumps(anns)}')
        (root / label).write_text('\n'.join(lines) + '\n', encoding='utf-8')


def _video(path: Path, frames: int = 3) -> None:
    import cv2
    import numpy as np
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 5, (W, H))
    rng = _rng(7)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, size=(H, W, 3), dtype=np.uint8))
    writer.release()
    if not path.is_file() or path.stat().st_size == 0:
        raise OSError(f'OpenCV could not write the video {path}')


def make_datasets(ws: Path, guide: str) -> list[str]:
    """The tiny datasets and input files ``guide``'s commands read, under the workspace ``ws``. Returns the paths
    made (relative to ``ws``)."""
    ws = Path(ws)
    made = []
    if guide == 'mmdet':
        _coco_detection(ws / 'data' / 'coco')
        _voc(ws / 'data' / 'VOCdevkit')
        _cityscapes(ws / 'data' / 'cityscapes')
        from visioncraft.tasks.detection.converters import convert_cityscapes
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()):
            convert_cityscapes(ws / 'data' / 'cityscapes')
        _image(ws / 'demo' / 'demo.jpg', W, H, 11, _boxes(11))
        _video(ws / 'demo' / 'demo.mp4')
        made += ['data/coco', 'data/VOCdevkit', 'data/cityscapes', 'classes.txt', 'demo/demo.jpg', 'demo/demo.mp4']
    elif guide == 'mmpose':
        _coco_keypoints(ws / 'data' / 'coco')
        made += ['data/coco']
    elif guide == 'mmocr':
        _icdar2015_mmocr(ws / 'data' / 'icdar2015')
        made += ['data/icdar2015']
    elif guide == 'paddleocr':
        _icdar2015_paddle(ws / 'train_data' / 'icdar2015' / 'text_localization')
        _image(ws / 'doc' / 'imgs_en' / 'img_10.jpg', W, H, 12, _boxes(12))
        _image(ws / 'doc' / 'imgs_en' / 'img_11.jpg', W, H, 13, _boxes(13))
        _image(ws / 'doc' / 'imgs' / 'img_12.jpg', W, H, 14, _boxes(14))
        made += ['train_data/icdar2015/text_localization', 'doc/imgs_en', 'doc/imgs']
    else:
        raise ValueError(f'unknown guide {guide!r}; known: {GUIDES}')
    return made


# ------------------------------------------------------------------------------------------- stand-in weights
# guide -> [(checkpoint path in the workspace, configs to build it from: the guide's name first, then today's)]
DBNET_R50 = ['configs/textdet/dbnet/dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015.py',
             'configs/textdet/dbnet/dbnet_r50dcnv2_fpnc_1200e_icdar2015.py']
CHECKPOINTS: dict[str, list[tuple[str, list[str]]]] = {
    'mmdet': [
        ('checkpoints/faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth',
         ['configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py', 'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']),
        ('checkpoints/faster_rcnn_r50_fpn_1x_voc0712_20200624-c9895d40.pth',
         ['configs/pascal_voc/faster_rcnn_r50_fpn_1x_voc.py', 'configs/pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py']),
        ('checkpoints/mask_rcnn_r50_fpn_1x_coco_20200205-d4b0c5d6.pth',
         ['configs/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py', 'configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']),
        ('checkpoints/mask_rcnn_r50_fpn_1x_cityscapes_20200227-afe51d5a.pth',
         ['configs/cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py',
          'configs/cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py']),
    ],
    'mmocr': [('dbnet_r50.pth', DBNET_R50)],
    'mmpose': [('checkpoints/td-hm_res50_8xb64-210e_coco-256x192.pth',
                ['configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py'])],
    'paddleocr': [('output/det_db/best_accuracy.pth', ['configs/det/det_mv3_db.yml']),
                  ('your/trained/model.pth', ['configs/det/det_mv3_db.yml']),
                  # the guide's wget target, written as PaddlePaddle does (a pickled dict of numpy arrays); the
                  # names are VisionCraft's (PaddleClas's ImageNet names are not known here)
                  ('pretrain_models/MobileNetV3_large_x0_5_pretrained.pdparams', ['configs/det/det_mv3_db.yml'])],
}
#: stand-ins that a guide resumes from (``Global.checkpoints=``): written as a training run's checkpoint at its
#: start (the optimizer of the config, iteration 0), since a weights-only file is refused by ``--resume``
TRAINING_STANDINS = {'your/trained/model.pth'}


def _load_config(config: Path):
    if config.suffix in ('.yml', '.yaml'):
        from visioncraft.config.compat.paddleocr import load_paddleocr_config
        return load_paddleocr_config(str(config), {'Global.pretrained_model': ''})
    from visioncraft.config import Config
    return Config.fromfile(str(config))


def _build_model(config: Path):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from check_configs import strip_pretrained   # the compat worker's rule: no pretrained download

    from visioncraft.registry import MODELS, default_scope, import_builtin_modules
    import_builtin_modules()
    cfg = _load_config(config)
    strip_pretrained(cfg.model)
    with default_scope(cfg.get('default_scope')):
        return MODELS.build(cfg.model, key_path='model')


def make_checkpoints(ws: Path, guide: str, repo: Path = REPO) -> list[str]:
    """Random-weight stand-ins at ``guide``'s checkpoint paths. Returns one line per checkpoint saying what it was
    built from, or why it could not be."""
    import torch
    lines = []
    for rel, configs in CHECKPOINTS[guide]:
        found = next((c for c in configs if (repo / c).is_file()), None)
        if found is None:
            lines.append(f'{rel}: not made, none of {configs} exists')
            continue
        try:
            torch.manual_seed(0)
            model = _build_model(repo / found)
        except Exception as exc:  # noqa: BLE001 - reported, the commands that need it then fail
            lines.append(f'{rel}: not made, building {found} failed: {" ".join(str(exc).split())[:300]}')
            continue
        dest = ws / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        sd = model.state_dict()
        if rel.endswith('.pdparams'):
            # the backbone's weights as a PaddlePaddle pickle in PaddleOCR's names (BatchNorm's _mean / _variance;
            # our PaddleOCR-layout backbones use PaddleOCR's module names): read through the .pdparams path
            with open(dest, 'wb') as f:
                pickle.dump({k.replace('running_mean', '_mean').replace('running_var', '_variance'): v.numpy()
                             for k, v in sd.items()
                             if k.startswith('backbone.') and not k.endswith('num_batches_tracked')}, f, protocol=2)
        elif rel in TRAINING_STANDINS:
            from visioncraft.engine.optim import build_optim_wrapper
            cfg = _load_config(repo / found)
            optim = build_optim_wrapper(model, cfg.optim_wrapper.to_dict())
            torch.save(dict(state_dict=sd, optimizer=optim.state_dict(),
                            meta=dict(epoch=0, iter=0, inner_iter=0, config=found, cfg=cfg.pretty_text,
                                      note='random weights, a training run at iteration 0: make compat stand-in')),
                       dest)
        else:
            torch.save(dict(state_dict=sd, meta=dict(config=found, note='random weights: make compat stand-in')),
                       dest)
        lines.append(f'{rel}: from {found}' + ('' if found == configs[0] else f' ({configs[0]} does not exist)'))
    return lines


def prepare_workspace(ws: Path, guide: str, repo: Path = REPO, *, checkpoints: bool = True) -> list[str]:
    """Lay out ``ws`` as ``guide``'s repository root (see the module docstring). Returns what was made."""
    ws = Path(ws)
    ws.mkdir(parents=True, exist_ok=True)
    for name in ('configs', 'tools'):
        if not (ws / name).exists():
            (ws / name).symlink_to(repo / name, target_is_directory=True)
    (ws / 'demo').mkdir(exist_ok=True)
    for script in sorted((repo / 'demo').glob('*.py')):
        if not (ws / 'demo' / script.name).exists():
            (ws / 'demo' / script.name).symlink_to(script)
    made = [f'configs/, tools/, demo/*.py -> {repo}']
    made += make_datasets(ws, guide)
    if checkpoints:
        made += make_checkpoints(ws, guide, repo)
        made += make_hub_weights(ws)
    return made


HUB_MODELS = ('resnet50',)   # the torchvision:// ImageNet weights the guides' configs start training from


def make_hub_weights(ws: Path) -> list[str]:
    """Random-weight stand-ins for the ImageNet downloads training starts from (``torchvision://resnet50``), in
    the torch hub cache of the workspace (``TORCH_HOME=ws/.torch``, set for every command), under the file names
    torchvision downloads them as; upstream downloads the same files on a first run."""
    import torch
    import torchvision
    out = []
    for name in HUB_MODELS:
        weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1   # the file torchvision:// names
        dest = ws / '.torch' / 'hub' / 'checkpoints' / weights.url.rsplit('/', 1)[-1]
        dest.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(torchvision.models.get_model(name, weights=None).state_dict(), dest)
        out.append(f'{dest.relative_to(ws)}: random {name} (stand-in for torchvision://{name})')
    return out


# ---------------------------------------------------------------------------------------------------- walking
@dataclass
class Result:
    cmd: GuideCommand
    status: str                  # ok | fail | timeout | skipped
    seconds: float = 0.0
    error: str = ''
    tail: list[str] = field(default_factory=list)


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if any(k in ln for k in ('Error', 'error:', 'rror ', 'Exception', 'No such file', 'not found', 'refused')):
            return ln[:300]
    return (lines[-1] if lines else '(no output)')[:300]


def _env(ws: Path) -> dict:
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env['PATH'] = bindir + os.pathsep + env.get('PATH', '')
    env['PYTHONPATH'] = str(REPO) + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
    env.setdefault('OMP_NUM_THREADS', '1')
    env['TORCH_HOME'] = str(ws / '.torch')
    env.setdefault('MPLBACKEND', 'Agg')
    env.pop('DISPLAY', None)
    env['HOME'] = env.get('HOME', str(ws))
    return env


def run_one(cmd: GuideCommand, ws: Path, timeout: float, server_wait: float = 8.0) -> Result:
    t0 = time.time()
    proc = subprocess.Popen(['bash', '-c', cmd.shell], cwd=ws, env=_env(ws), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    limit = server_wait if cmd.server else timeout
    try:
        out, _ = proc.communicate(timeout=limit)
    except BaseException as exc:  # interrupted (Ctrl-C, SIGTERM): end the command's process group too
        if not isinstance(exc, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        out = None
    if out is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        if cmd.server:
            return Result(cmd, 'ok', time.time() - t0, tail=(out or '').splitlines()[-5:])
        return Result(cmd, 'timeout', time.time() - t0, f'still running after {timeout:.0f} s',
                      (out or '').splitlines()[-20:])
    dt = time.time() - t0
    if proc.returncode == 0:
        return Result(cmd, 'ok', dt, tail=out.splitlines()[-5:])
    return Result(cmd, 'fail', dt, f'exit {proc.returncode}: {_last_error_line(out)}', out.splitlines()[-20:])


def _gpu_count() -> int:
    try:
        import torch
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001
        return 0


def walk(commands: list[GuideCommand], *, timeout: float, keep: bool = False, log=print,
         workdir: Path | None = None) -> list[Result]:
    gpus = _gpu_count()
    results: list[Result] = []
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix='visioncraft-guides-'))
    try:
        for guide in GUIDES:
            mine = [c for c in commands if c.guide == guide]
            runnable = [c for c in mine if c.category == 'runs' or (c.category == 'gpu' and c.gpus <= gpus)]
            results += [Result(c, 'skipped') for c in mine if c not in runnable]
            if not runnable:
                continue
            ws = base / guide
            t0 = time.time()
            log(f'== {guide}: preparing {ws}')
            for line in prepare_workspace(ws, guide):
                log(f'   {line}')
            log(f'   ({time.time() - t0:.0f} s)')
            for cmd in runnable:
                log(f'-- [{cmd.id}] {cmd.shell}')
                res = run_one(cmd, ws, timeout)
                log(f'   {res.status.upper()} in {res.seconds:.0f} s' + (f': {res.error}' if res.error else ''))
                results.append(res)
    finally:
        if keep:
            log(f'workspaces kept in {base}')
        elif workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    return results


def summary(results: list[Result], gpus: int | None = None) -> tuple[str, int, int]:
    """Markdown summary, number run as written, number runnable here."""
    gpus = _gpu_count() if gpus is None else gpus
    ran = [r for r in results if r.status != 'skipped']
    ok = [r for r in ran if r.status == 'ok']
    lines = ['| guide | commands | runnable here | ran as written | gpu | second machine | network | slurm | camera |',
             '|---|---|---|---|---|---|---|---|---|']
    for guide in GUIDES:
        mine = [r for r in results if r.cmd.guide == guide]
        if not mine:
            continue
        cnt = {k: sum(r.cmd.category == k for r in mine) for k in CATEGORIES}
        g_ran = [r for r in mine if r.status != 'skipped']
        g_ok = sum(r.status == 'ok' for r in g_ran)
        lines.append(f'| {guide} | {len(mine)} | {len(g_ran)} | {g_ok} | {cnt["gpu"]} | {cnt["second_machine"]} | '
                     f'{cnt["network"]} | {cnt["slurm"]} | {cnt["camera"]} |')
    pct = 100.0 * len(ok) / len(ran) if ran else 0.0
    lines.append(f'\n**{len(ok)} / {len(ran)} runnable commands run as written ({pct:.0f} %)** '
                 f'({len(results)} commands in all; {gpus} GPU(s) here).')
    fails = [r for r in ran if r.status != 'ok']
    if fails:
        lines += ['', '| command | result |', '|---|---|']
        for r in fails:
            err = r.error.replace('|', '\\|')
            lines.append(f'| `{r.cmd.id}` | {r.status}: {err} |')
    return '\n'.join(lines) + '\n', len(ok), len(ran)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    p = argparse.ArgumentParser(prog='tools/compat/guides.py', description=__doc__.split('\n\n')[0])
    p.add_argument('--commands', default=str(DATA_FILE), help='the command data file (default: %(default)s)')
    p.add_argument('--guide', nargs='+', choices=GUIDES, help='walk only these guides')
    p.add_argument('--only', nargs='+', metavar='ID', help='walk only these command ids (e.g. mmdet-111)')
    p.add_argument('--timeout', type=float, default=float(os.environ.get('VISIONCRAFT_GUIDE_TIMEOUT', 600)),
                   help='seconds per command (default: %(default)s)')
    p.add_argument('--keep', action='store_true', help='keep the workspaces (their folder is printed)')
    p.add_argument('--workdir', help='make the workspaces here instead of a temporary folder (kept)')
    p.add_argument('--md', help='also write the markdown summary to this file')
    p.add_argument('--fail-under', type=int, default=0, help='exit 1 when fewer commands run as written')
    p.add_argument('--list', action='store_true', help='print the commands by category and exit')
    args = p.parse_args(argv)
    commands = load_commands(args.commands)
    if args.guide:
        commands = [c for c in commands if c.guide in args.guide]
    if args.only:
        unknown = set(args.only) - {c.id for c in commands}
        if unknown:
            p.error(f'unknown command id(s) {sorted(unknown)}; see --list')
        commands = [c for c in commands if c.id in args.only]
    if args.list:
        for c in commands:
            print(f'{c.id:16} {c.category:15} {c.shell}' + (f'   # {c.reason}' if c.reason else ''))
        return 0
    results = walk(commands, timeout=args.timeout, keep=args.keep,
                   workdir=Path(args.workdir).resolve() if args.workdir else None)
    text, ok, ran = summary(results)
    print('\n' + text)
    if args.md:
        Path(args.md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md).write_text('## Guide commands\n\n' + text, encoding='utf-8')
    return 1 if ok < args.fail_under else 0


if __name__ == '__main__':
    sys.exit(main())

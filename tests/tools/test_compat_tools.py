"""The pure parts of `make compat` (tools/compat): scope selection, the baseline comparison, the guide command
data file, and the tiny dataset layouts of the guide walker. Nothing here downloads or runs a model."""
import json
import sys
from pathlib import Path

import pytest

COMPAT = Path(__file__).resolve().parents[2] / 'tools' / 'compat'
sys.path.insert(0, str(COMPAT))

import guides  # noqa: E402
import scope  # noqa: E402
import upstream  # noqa: E402


def test_scope_selects_included_and_names_exclusions():
    paths = ['pascal_voc/ssd300_voc0712.py', 'pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py',
             'retinanet/retinanet_tta.py', 'yolo/yolov3_d53_8xb8-320-273e_coco.py']
    chosen, excluded = scope.select(scope.MMDET, paths)
    assert chosen == ['pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py']
    assert set(excluded) == {'pascal_voc/ssd300_voc0712.py', 'retinanet/retinanet_tta.py'}
    assert all(reason for reason in excluded.values())
    assert 'yolo/yolov3_d53_8xb8-320-273e_coco.py' not in excluded     # another folder: simply not checked


def test_every_train_case_is_in_scope():
    for case in scope.TRAIN_CASES:
        assert scope.in_scope(scope.TOOLBOXES[case.toolbox], case.config), case.config


def test_baseline_comparison_flags_only_decreases():
    rows = {'mmdet': [dict(path='fcos/a.py', loaded=True, built=True, forward=True),
                      dict(path='fcos/b.py', loaded=True, built=False, forward=False)]}
    counts = upstream.tabulate(rows)
    assert counts['mmdet']['fcos'] == dict(total=2, loaded=2, built=1, forward=1, trained=0, train_tried=0)
    assert counts['mmdet']['*']['loaded'] == 2
    assert upstream.compare(counts, counts) == []
    better = {'mmdet': {'fcos': dict(loaded=2, built=2, forward=2)}}
    assert upstream.compare({'mmdet': {'fcos': dict(loaded=2, built=1, forward=1)}}, better) == []
    regs = upstream.compare(better, counts)
    assert regs == ['mmdet fcos: built 1 < baseline 2', 'mmdet fcos: forward 1 < baseline 2']
    assert upstream.compare({'mmocr': {'*': dict(loaded=1)}}, counts) == ['mmocr *: loaded 0 < baseline 1']
    assert '| **mmdet** | **all** | **2** |' in upstream.format_table(counts)


def test_sample_spreads_and_family_is_the_folder():
    paths = [f'f/{i}.py' for i in range(10)]
    assert upstream.sample(paths, None) == paths
    assert upstream.sample(paths, 5) == ['f/0.py', 'f/2.py', 'f/4.py', 'f/6.py', 'f/8.py']
    assert upstream.family_of('body_2d_keypoint/rtmpose/coco/x.py') == 'body_2d_keypoint/rtmpose/coco'


def test_guide_command_file_parses_and_is_complete():
    cmds = guides.load_commands()
    assert {c.guide for c in cmds} == set(guides.GUIDES)
    for c in cmds:
        assert '${' not in c.shell or c.category not in ('runs', 'gpu'), c.id
        if c.category != 'runs':
            assert c.reason, c.id
    # templates keep the guide's text in `command` and run the filled line
    tpl = next(c for c in cmds if c.id == 'mmdet-99')
    assert '${IMAGE_FILE}' in tpl.command and tpl.run.startswith('python demo/image_demo.py demo/demo.jpg')


@pytest.mark.parametrize('entry, message', [
    (dict(id='x', guide='mmdet', line=1, command='ls', category='maybe'), 'category'),
    (dict(id='x', guide='mmdet', line=1, command='ls', category='gpu', reason='r'), 'gpus'),
    (dict(id='x', guide='mmdet', line=1, command='ls', category='slurm'), 'reason'),
    (dict(id='x', guide='mmdet', line=1, command='a ${B}', category='runs'), 'template'),
    (dict(id='x', guide='mmdet', line=1, command='ls', category='runs', colour='red'), 'unknown field'),
])
def test_guide_command_file_errors_name_the_entry(tmp_path, entry, message):
    path = tmp_path / 'c.json'
    path.write_text(json.dumps(dict(commands=[entry])))
    with pytest.raises(SystemExit, match=message):
        guides.load_commands(path)


def test_workspace_datasets_are_laid_out_where_the_configs_look(tmp_path):
    guides.make_datasets(tmp_path, 'mmocr')
    ann = json.loads((tmp_path / 'data/icdar2015/textdet_train.json').read_text())
    assert ann['metainfo']['task_name'] == 'textdet'
    assert all((tmp_path / 'data/icdar2015' / d['img_path']).is_file() for d in ann['data_list'])
    guides.make_datasets(tmp_path, 'paddleocr')
    root = tmp_path / 'train_data/icdar2015/text_localization'
    for label in ('train_icdar2015_label.txt', 'test_icdar2015_label.txt'):
        for line in (root / label).read_text().splitlines():
            rel, anns = line.split('\t')
            assert (root / rel).is_file() and json.loads(anns)[0]['points']
    assert (tmp_path / 'doc/imgs_en/img_10.jpg').is_file()


def test_workspace_links_the_repository(tmp_path):
    made = guides.prepare_workspace(tmp_path / 'ws', 'mmpose', checkpoints=False)
    ws = tmp_path / 'ws'
    assert (ws / 'configs').is_symlink() and (ws / 'tools' / 'train.py').is_file()
    keypoints = json.loads((ws / 'data/coco/annotations/person_keypoints_val2017.json').read_text())
    assert len(keypoints['annotations'][0]['keypoints']) == 17 * 3
    assert (ws / 'data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json').is_file()
    assert made[0].startswith('configs/')


def test_training_resizes_shrink_but_never_enlarge():
    # the harness shrinks detection resizes to SMALL_SCALE; a recogniser's 100 x 32 resize must stay as it is
    # (enlarged to 160 x 128, MMOCR's CRNN gets 7-row feature maps and its one-iteration training fails)
    import check_configs
    pipe = [dict(type='Resize', scale=(100, 32), keep_ratio=False), dict(type='Resize', scale=(1333, 800)),
            dict(type='RandomResize', scale=[(640, 640), (2560, 2560)]),
            dict(type='mmdet.RandomChoiceResize', scales=[(1333, 640), (1333, 800)]),
            dict(type='RandomApply', transforms=[dict(type='Resize', scale=(2048, 1024))])]
    check_configs._shrink_resizes(pipe)
    small = check_configs.SMALL_SCALE
    assert pipe[0]['scale'] == (100, 32)
    assert pipe[1]['scale'] == small
    assert pipe[2]['scale'][0] == small
    assert pipe[3]['scales'] == [small]
    assert pipe[4]['transforms'][0]['scale'] == small


def test_paddleocr_resume_stand_in_is_a_training_checkpoint(tmp_path):
    """``Global.checkpoints=./your/trained/model`` resumes: its stand-in must carry a training state, which
    ``--resume`` requires (a weights-only file is refused), and still fit the guide's model."""
    import torch
    from visioncraft.engine.runner import TRAINING_STATE_KEYS
    lines = guides.make_checkpoints(tmp_path, 'paddleocr')
    assert all(' from configs/' in line for line in lines), lines
    ckpt = torch.load(tmp_path / 'your/trained/model.pth', weights_only=True)
    assert 'optimizer' in ckpt and set(ckpt) & set(TRAINING_STATE_KEYS)
    assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == (0, 0)
    assert ckpt['optimizer']['optimizer']['param_groups'][0]['params']   # the optimizer wrapper's state
    weights_only = torch.load(tmp_path / 'output/det_db/best_accuracy.pth', weights_only=True)
    assert not set(weights_only) & set(TRAINING_STATE_KEYS)
    assert weights_only['state_dict'].keys() == ckpt['state_dict'].keys()

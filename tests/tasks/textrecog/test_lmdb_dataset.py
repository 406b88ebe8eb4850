"""RecogLMDBDataset and the LMDB converter: write a tiny LMDB, read it back (also in DataLoader workers)."""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.cli.converters import main_lmdb_converter
from visioncraft.cli.main import run_cli
from visioncraft.registry import DATASETS
from visioncraft.tasks.textrecog.datasets import RecogLMDBDataset, lmdb_dataset, write_recog_lmdb

lmdb = pytest.importorskip('lmdb')  # pinned in the test extra; skipped only where the extra is missing
REPO = Path(__file__).resolve().parents[3]
TEXTS = ['hello', 'WORLD', '中文', 'Ärger 7', '', 'a\tb?']  # unicode, a space, an empty label, a tab


@pytest.fixture(scope='module')
def words(tmp_path_factory):
    """PNG word images (distinct sizes) with a PaddleOCR label file and an MMOCR JSON for them."""
    root = tmp_path_factory.mktemp('words')
    (root / 'imgs').mkdir()
    rng = np.random.default_rng(0)
    images = []
    for i, _text in enumerate(TEXTS):
        img = rng.integers(0, 256, (8 + i, 20 + 3 * i, 3)).astype(np.uint8)
        cv2.imwrite(str(root / 'imgs' / f'w{i}.png'), img)
        images.append(img)
    (root / 'rec_gt.txt').write_text(''.join(f'imgs/w{i}.png\t{t}\n' for i, t in enumerate(TEXTS)), encoding='utf-8')
    data_list = [dict(img_path=f'imgs/w{i}.png', instances=[dict(text=t)]) for i, t in enumerate(TEXTS)]
    (root / 'textrecog.json').write_text(json.dumps(dict(metainfo={}, data_list=data_list)), encoding='utf-8')
    return root, images


@pytest.fixture(scope='module')
def db(words, tmp_path_factory):
    root, _ = words
    out = tmp_path_factory.mktemp('lmdb') / 'train.lmdb'
    assert write_recog_lmdb(str(root / 'rec_gt.txt'), str(out), map_size=1 << 15) == len(TEXTS)  # map grows
    return out


def _close_cached_environments() -> None:
    for key in [k for k in lmdb_dataset._ENVS if k[0] == os.getpid()]:
        lmdb_dataset._ENVS.pop(key).close()


@pytest.fixture(autouse=True)
def no_cached_environment():
    """Every test starts and ends with no LMDB environment in RecogLMDBDataset's per-process cache: LMDB opens a
    file once per process, so a dataset an earlier test read would keep test_layout_is_the_usual_one's own
    ``lmdb.open`` from opening the database ("already open in this process"), depending on the test order."""
    _close_cached_environments()
    yield
    _close_cached_environments()


def identity(batch):
    return batch


def test_layout_is_the_usual_one(db, words):
    _, images = words
    env = lmdb.open(str(db), readonly=True, lock=False)
    with env.begin() as txn:
        assert txn.get(b'num-samples') == b'6'
        assert txn.get(b'label-000000003').decode('utf-8') == '中文'  # 1-based keys
        assert txn.get(b'image-000000000') is None and txn.get(b'label-000000007') is None
        img = cv2.imdecode(np.frombuffer(txn.get(b'image-000000001'), np.uint8), cv2.IMREAD_COLOR)
    env.close()
    assert np.array_equal(img, images[0])


def test_read_back(db, words, tmp_path):
    _, images = words
    ds = DATASETS.build(dict(type='RecogLMDBDataset', ann_file=str(db)))
    assert len(ds) == len(TEXTS)
    for i, text in enumerate(TEXTS):
        info = ds.get_data_info(i)
        assert info['instances'] == [dict(text=text)]
        assert info['img_path'] == f'lmdb://{db}#image-{i + 1:09d}'
        out = ds[i]
        assert np.array_equal(out['img'], images[i]) and out['ori_shape'] == images[i].shape[:2]
    # the MMOCR JSON label file gives the same database
    write_recog_lmdb(str(words[0] / 'textrecog.json'), str(tmp_path / 'mm'))
    mm = RecogLMDBDataset(str(tmp_path / 'mm'))
    assert [mm.get_data_info(i)['instances'] for i in range(len(mm))] == [ds.get_data_info(i)['instances']
                                                                          for i in range(len(ds))]
    assert mm.get_image_bytes(2) == ds.get_image_bytes(2) == (words[0] / 'imgs/w2.png').read_bytes()


def test_color_type_pipeline_indices_and_filter(db, words):
    _, images = words
    gray = RecogLMDBDataset(str(db), img_color_type='grayscale')
    assert np.array_equal(gray[1]['img'], cv2.imread(str(words[0] / 'imgs/w1.png'), cv2.IMREAD_GRAYSCALE))
    # a file-dataset pipeline works unchanged: its leading LoadImageFromFile is replaced by the LMDB read,
    # with that transform's settings
    ds = RecogLMDBDataset(str(db), pipeline=[dict(type='LoadImageFromFile', color_type='grayscale', to_float32=True),
                                             dict(type='LoadOCRAnnotations', with_text=True)])
    out = ds[2]
    assert out['img'].dtype == np.float32 and out['img'].ndim == 2 and out['gt_texts'] == ['中文']
    assert [RecogLMDBDataset(str(db), indices=[5, 0]).get_data_info(i)['instances'][0]['text']
            for i in range(2)] == ['a\tb?', 'hello']
    assert len(RecogLMDBDataset(str(db), indices=-2)) == 2
    kept = RecogLMDBDataset(str(db), filter_cfg=dict(filter_empty_gt=True, max_text_len=5))
    assert [kept.get_data_info(i)['instances'][0]['text'] for i in range(len(kept))] == ['hello', 'WORLD', '中文',
                                                                                          'a\tb?']
    assert len(RecogLMDBDataset(str(db), filter_cfg=dict(max_text_len=1), test_mode=True)) == 6  # not in test


def test_dataloader_workers_and_pickling(db):
    ds = RecogLMDBDataset(str(db))
    expected = [(ds.get_data_info(i)['instances'][0]['text'], ds[i]['img'].shape) for i in range(len(ds))]
    assert (os.getpid(), os.path.realpath(db)) in lmdb_dataset._ENVS  # open in the parent when the workers fork
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, collate_fn=identity)
    seen = [(s['instances'][0]['text'], s['img'].shape) for batch in loader for s in batch]
    # the parent closed its environment before forking (py-lmdb would not let the workers open theirs
    # otherwise) and reopens it on its next read
    assert (os.getpid(), os.path.realpath(db)) not in lmdb_dataset._ENVS
    assert seen == expected
    assert ds.get_data_info(3)['instances'][0]['text'] == 'Ärger 7'
    assert (os.getpid(), os.path.realpath(db)) in lmdb_dataset._ENVS
    copy = pickle.loads(pickle.dumps(ds))  # what a spawned worker gets; it shares the process's environment
    assert copy.get_data_info(3)['instances'][0]['text'] == 'Ärger 7'
    ds.close()  # closes it for both; either reopens on use
    assert copy.get_data_info(0)['instances'][0]['text'] == 'hello'


def test_folder_of_lmdbs(db, words, tmp_path):
    root = tmp_path / 'training'
    write_recog_lmdb(str(words[0] / 'rec_gt.txt'), str(root / 'MJ'))
    write_recog_lmdb(str(words[0] / 'textrecog.json'), str(root / 'ST' / 'part1'))
    ds = RecogLMDBDataset('training', data_root=str(tmp_path))
    assert len(ds) == 12 and ds.lmdb_dirs == [str(root / 'MJ'), str(root / 'ST' / 'part1')]
    assert ds.get_data_info(7)['img_path'] == f'lmdb://{root / "ST" / "part1"}#image-000000002'


def test_errors(db, words, tmp_path):
    root, _ = words
    with pytest.raises(FileNotFoundError, match='nope.lmdb'):
        RecogLMDBDataset(str(tmp_path / 'nope.lmdb'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no LMDB'):
        RecogLMDBDataset(str(tmp_path / 'empty'))
    with pytest.raises(ValueError, match='filter_cfg keys'):
        RecogLMDBDataset(str(db), filter_cfg=dict(min_size=3))
    # hand-made broken databases: no num-samples; a missing label; a missing / undecodable image
    env = lmdb.open(str(tmp_path / 'broken'), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b'label-000000001', b'ok')
    env.close()
    with pytest.raises(KeyError, match="no key 'num-samples'"):
        RecogLMDBDataset(str(tmp_path / 'broken'))
    env = lmdb.open(str(tmp_path / 'broken'), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b'num-samples', b'4')
        txn.put(b'image-000000001', b'not an image')
        txn.put(b'label-000000002', b'no image')
        txn.put(b'image-000000004', (root / 'imgs/w0.png').read_bytes())
        txn.put(b'label-000000004', b'fine')
    env.close()
    ds = RecogLMDBDataset(str(tmp_path / 'broken'))
    with pytest.raises(OSError, match='image-000000001 does not decode'):
        ds[0]
    with pytest.raises(KeyError, match='image-000000002.*label-only'):
        ds[1]
    with pytest.raises(KeyError, match="no key 'label-000000003'"):
        ds[2]
    # with LoadImageFromFile(ignore_empty=True) an undecodable image makes the dataset draw another sample
    ds = RecogLMDBDataset(str(tmp_path / 'broken'), indices=[0, 3],
                          pipeline=[dict(type='LoadImageFromFile', ignore_empty=True)])
    assert ds[0]['instances'] == [dict(text='fine')]
    # the converter: a missing image is named; --skip-invalid leaves it out; an existing LMDB is not replaced
    (tmp_path / 'bad.txt').write_text('imgs/w0.png\tok\nimgs/missing.png\tx\nimgs/w1.png\tok2\n', encoding='utf-8')
    with pytest.raises(FileNotFoundError, match='missing.png'):
        write_recog_lmdb(str(tmp_path / 'bad.txt'), str(tmp_path / 'o'), img_root=str(root))
    assert write_recog_lmdb(str(tmp_path / 'bad.txt'), str(tmp_path / 'o'), img_root=str(root), skip_invalid=True,
                            overwrite=True) == 2
    assert RecogLMDBDataset(str(tmp_path / 'o')).get_data_info(1)['instances'][0]['text'] == 'ok2'  # no gap
    with pytest.raises(FileExistsError, match='overwrite'):
        write_recog_lmdb(str(tmp_path / 'bad.txt'), str(tmp_path / 'o'), img_root=str(root), skip_invalid=True)
    (tmp_path / 'junk.png').write_bytes(b'junk')
    (tmp_path / 'junk.txt').write_text('junk.png\tx\n', encoding='utf-8')
    with pytest.raises(ValueError, match='junk.png is not a readable image'):
        write_recog_lmdb(str(tmp_path / 'junk.txt'), str(tmp_path / 'j'))
    with pytest.raises(ValueError, match='found no'):
        (tmp_path / 'notab.txt').write_text('imgs/w0.png hello\n', encoding='utf-8')
        write_recog_lmdb(str(tmp_path / 'notab.txt'), str(tmp_path / 'n'), img_root=str(root))


@pytest.mark.slow
def test_converter_command_line(words, tmp_path, capsys):
    root, _ = words
    main_lmdb_converter([str(root / 'textrecog.json'), str(tmp_path / 'a'), '--batch-size', '2'])
    assert len(RecogLMDBDataset(str(tmp_path / 'a'))) == len(TEXTS)
    tool = REPO / 'tools/dataset_converters/textrecog/lmdb_converter.py'
    done = subprocess.run([sys.executable, str(tool), str(root / 'rec_gt.txt'), str(tmp_path / 'b'), '-i', str(root)],
                          check=True, cwd=REPO, capture_output=True, text=True)
    assert '6 samples' in done.stdout and len(RecogLMDBDataset(str(tmp_path / 'b'))) == len(TEXTS)
    # a missing label file is one clear line and exit status 2 (what the script does through run_cli)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main_lmdb_converter, [str(tmp_path / 'none.txt'), str(tmp_path / 'c')], str(tool))
    assert exit_info.value.code == 2 and 'none.txt' in capsys.readouterr().err

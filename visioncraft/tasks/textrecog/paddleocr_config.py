"""The ``rec`` translator of PaddleOCR-layout configs (``Architecture.model_type: rec``, algorithms CRNN and SVTR
with CTC).

Registered with :func:`visioncraft.config.compat.paddleocr.register_paddleocr_translator` (in
:data:`visioncraft.registry.PADDLE_TRANSLATORS`); the generic part (Global, Optimizer, loaders) is in
:mod:`visioncraft.config.compat.paddleocr`, the ``det`` one in
:mod:`visioncraft.tasks.textdet.paddleocr_config`. docs/paddleocr.md lists the mapping; in short:

* ``Global.character_dict_path`` (one character per line) + ``use_space_char`` -> the head's ``Dictionary``;
  without a file, PaddleOCR's default ``0-9a-z`` with labels lower-cased (our ``lower_english_digits``,
  ``case='lower'``). Label characters outside the dictionary are dropped from the target (PaddleOCR's
  ``CTCLabelEncode``) and counted (``Dictionary.num_unknown``). ``max_text_length`` -> the training set's
  ``filter_cfg.max_text_len`` (PaddleOCR's label encoder skips longer labels).
* ``Backbone`` MobileNetV3 -> :class:`RecMobileNetV3` (``model_name``, ``scale``, ``large_stride`` /
  ``small_stride``), SVTRNet -> :class:`SVTREncoder`; other names pass through to the registry. ``Neck``
  SequenceEncoder ``rnn`` -> :class:`BiLSTMEncoder` (``hidden_size``), ``reshape`` -> none; ``Head`` CTCHead ->
  :class:`CTCHead` with the CTC codec (blank first, as PaddleOCR). ``Loss`` CTCLoss, ``PostProcess``
  CTCLabelDecode and ``Metric`` RecMetric (-> :class:`WordMetric` + :class:`OneMinusNEDMetric`).
* Transforms: DecodeImage, CTCLabelEncode, RecAug (-> brightness/contrast + blur jitter: the recognition
  augmentations that exist here, not PaddleOCR's TIA warps), RecResizeImg, KeepKeys. PaddleOCR's rec
  normalisation ``(x / 255 - 0.5) / 0.5`` is the data preprocessor's mean / std 127.5.
* ``SimpleDataSet`` -> :class:`PaddleOCRRecDataset`; ``LMDBDataSet`` (``data_dir``: one LMDB or a folder of them)
  -> :class:`RecogLMDBDataset`.
"""
from __future__ import annotations

from typing import Any

from visioncraft.config.compat.paddleocr import PaddleOCRTaskTranslator, register_paddleocr_translator

__all__ = ['PaddleOCRRecTranslator']

_ALGORITHMS = ('CRNN', 'SVTR')
_TRANSFORMS = ('DecodeImage', 'CTCLabelEncode', 'RecAug', 'RecResizeImg', 'KeepKeys')
_PACK = dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio'))
# PaddleOCR SVTRNet argument -> SVTREncoder argument (the ones with a direct counterpart)
_SVTR_KEYS = dict(img_size='img_size', in_channels='in_channels', embed_dim='embed_dims', depth='depth',
                  num_heads='num_heads', mixer='mixer_types', local_mixer='window_size', mlp_ratio='mlp_ratio',
                  qkv_bias='qkv_bias', drop_rate='drop_rate', attn_drop_rate='attn_drop_rate',
                  drop_path_rate='drop_path_rate', out_channels='out_channels')
_SVTR_IGNORED = ('name', 'patch_merging', 'last_stage', 'prenorm', 'out_char_num', 'hidden_dim', 'qk_scale',
                 'norm_layer', 'sub_num', 'epsilon', 'sub_norm', 'act', 'use_lenhead', 'block_unit')


@register_paddleocr_translator('rec')
class PaddleOCRRecTranslator(PaddleOCRTaskTranslator):
    """PaddleOCR ``rec`` configs (CRNN, SVTR; CTC) -> ``EncoderDecoderRecognizer``."""

    dataset_types = {'SimpleDataSet': 'PaddleOCRRecDataset', 'LMDBDataSet': 'RecogLMDBDataset'}

    # -- model -----------------------------------------------------------------------------------------
    def model(self) -> dict:
        doc = self.doc
        arch = doc.check_keys(doc.section('Architecture'),
                              ['model_type', 'algorithm', 'Transform', 'Backbone', 'Neck', 'Head', 'in_channels'],
                              'Architecture')
        algorithm = arch.get('algorithm')
        if algorithm not in _ALGORITHMS:
            raise doc.error('Architecture.algorithm', f'{algorithm!r} is not supported for model_type rec '
                                                      f'(supported: {", ".join(_ALGORITHMS)})')
        if arch.get('Transform'):
            raise doc.error('Architecture.Transform', 'rectification stages (TPS / STN) are not implemented; set '
                                                      'Transform: null')
        for part in ('Backbone', 'Head'):
            if not isinstance(arch.get(part), dict):
                raise doc.error(f'Architecture.{part}', 'is required (a mapping with a name)')
        channels = self._image_channels()
        model: dict[str, Any] = dict(
            type='EncoderDecoderRecognizer',
            data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[127.5] * channels,
                                   std=[127.5] * channels),
            backbone=self._backbone(arch['Backbone'], channels))
        encoder = self._neck(arch.get('Neck'))
        if encoder is not None:
            model['encoder'] = encoder
        model['decoder'] = self._head(arch['Head'])
        return model

    def _image_channels(self) -> int:
        """3, or 1 when RecResizeImg's image_shape (Train and Eval must agree) says grey."""
        found = {tuple(self._resize_shape(split)) for split in ('Train', 'Eval') if self.doc.data.get(split)}
        if len(found) > 1:
            raise self.doc.error('Eval.dataset.transforms', f'RecResizeImg.image_shape differs between Train and '
                                                            f'Eval ({sorted(found)}); the model has one input size')
        return next(iter(found), (3, 32, 100))[0]

    def _resize_shape(self, split: str) -> list[int]:
        for name, args, key in self.doc.transforms(split):
            if name == 'RecResizeImg':
                shape = args.get('image_shape', [3, 32, 100])
                if not isinstance(shape, list) or len(shape) != 3 or shape[0] not in (1, 3):
                    raise self.doc.error(f'{key}.image_shape', f'must be [C, H, W] with C 1 or 3, got {shape!r}')
                return [int(v) for v in shape]
        return [3, 32, 100]

    def _backbone(self, cfg: dict, channels: int) -> dict:
        doc, key = self.doc, 'Architecture.Backbone'
        name = cfg.get('name')
        if name == 'MobileNetV3':
            cfg = doc.check_keys(cfg, ['name', 'in_channels', 'model_name', 'scale', 'large_stride',
                                       'small_stride', 'disable_se'], key)
            if cfg.get('disable_se'):
                raise doc.error(f'{key}.disable_se', 'MobileNetV3 without squeeze-excitation is not implemented here')
            model_name = cfg.get('model_name', 'small')
            if model_name not in ('large', 'small'):
                raise doc.error(f'{key}.model_name', f"must be 'large' or 'small', got {model_name!r}")
            out = dict(type='RecMobileNetV3', model_name=model_name, scale=float(cfg.get('scale', 0.5)),
                       in_channels=channels)
            strides = cfg.get(f'{model_name}_stride')
            if strides is not None:
                out['strides'] = [int(s) for s in strides]
            return out
        if name == 'SVTRNet':
            allowed = list(_SVTR_KEYS) + list(_SVTR_IGNORED)
            cfg = doc.check_keys(cfg, allowed, key)
            out = dict(type='SVTREncoder', in_channels=channels)
            for src, dst in _SVTR_KEYS.items():
                if src in cfg and src != 'in_channels':
                    value = cfg[src]
                    out[dst] = tuple(value) if isinstance(value, list) and dst != 'mixer_types' else value
            if 'local_mixer' in cfg:  # PaddleOCR: one [h, w] window per stage; ours: one window for all
                windows = {tuple(w) for w in cfg['local_mixer']}
                if len(windows) != 1:
                    raise doc.error(f'{key}.local_mixer', f'one window size for every stage is supported, got '
                                                          f'{cfg["local_mixer"]!r}')
                out['window_size'] = windows.pop()
            return out
        if not name:
            raise doc.error(key, 'needs a name (MobileNetV3, SVTRNet or a registered backbone)')
        return self.pass_through(cfg, key)

    def _neck(self, cfg: Any) -> dict | None:
        doc, key = self.doc, 'Architecture.Neck'
        if cfg is None:
            return None
        if not isinstance(cfg, dict) or not cfg.get('name'):
            raise doc.error(key, f'needs a name (SequenceEncoder or a registered neck), got {cfg!r}')
        if cfg['name'] != 'SequenceEncoder':
            return self.pass_through(cfg, key)
        cfg = doc.check_keys(cfg, ['name', 'encoder_type', 'hidden_size', 'in_channels'], key)
        kind = cfg.get('encoder_type', 'rnn')
        if kind == 'reshape':
            return None  # the CTC head reads N x C x 1 x W maps as frames directly
        if kind == 'rnn':
            # PaddleOCR's EncoderWithRNN: two stacked bidirectional LSTMs of hidden_size per direction
            return dict(type='BiLSTMEncoder', hidden_channels=int(cfg.get('hidden_size', 48)), num_layers=2)
        raise doc.error(f'{key}.encoder_type', f"{kind!r} is not supported (supported: rnn, reshape)")

    def _dictionary(self) -> dict:
        doc = self.doc
        path = doc.global_value('character_dict_path')
        if not path:
            # PaddleOCR without a dictionary file: "0123456789abcdefghijklmnopqrstuvwxyz", labels lower-cased
            return dict(type='Dictionary', builtin='lower_english_digits', case='lower')
        out = dict(type='Dictionary', dict_file=str(path))
        if doc.global_value('use_space_char'):
            out['extra_chars'] = ' '
        return out

    def _head(self, cfg: dict) -> dict:
        doc, key = self.doc, 'Architecture.Head'
        custom = self.custom_part(cfg, key, 'CTCHead', 'head')
        if custom is not None:
            return custom
        cfg = doc.check_keys(cfg, ['name', 'fc_decay', 'mid_channels', 'in_channels', 'return_feats'], key)
        if cfg.get('mid_channels'):
            raise doc.error(f'{key}.mid_channels', 'a two-layer CTC head is not implemented; remove the key')
        loss = doc.section('Loss', required=False)
        if loss:
            doc.named(loss, 'Loss', ('CTCLoss',))
            loss = doc.check_keys(loss, ['name', 'use_focal_loss'], 'Loss')
            if loss.get('use_focal_loss'):
                raise doc.error('Loss.use_focal_loss', 'the focal CTC loss is not implemented; set it to false')
        post = doc.section('PostProcess', required=False)
        if post:
            doc.named(post, 'PostProcess', ('CTCLabelDecode',))
            doc.check_keys(post, ['name', 'character_dict_path', 'use_space_char'], 'PostProcess')
        return dict(type='CTCHead', codec=dict(type='CTCCodec', dictionary=self._dictionary(), blank='first'),
                    loss=dict(type='CTCLoss', reduction='mean', zero_infinity=True))

    # -- data ------------------------------------------------------------------------------------------
    def pipeline(self, split: str) -> list[dict]:
        doc = self.doc
        steps: list[dict] = []
        has_label = False
        mode = 'BGR'
        for name, args, key in doc.transforms(split):
            if name not in _TRANSFORMS:
                raise doc.error(key, f'transform {name!r} is not supported for rec (supported: '
                                     f'{", ".join(_TRANSFORMS)})')
            if name == 'DecodeImage':
                args = doc.check_keys(args, ['img_mode', 'channel_first'], key)
                mode = args.get('img_mode', 'BGR')
                if mode not in ('BGR', 'RGB', 'GRAY'):
                    raise doc.error(f'{key}.img_mode', f"must be BGR, RGB or GRAY, got {mode!r}")
                if args.get('channel_first'):
                    raise doc.error(f'{key}.channel_first', 'must be false')
                steps.append(dict(type='LoadImageFromFile', color_type='grayscale' if mode == 'GRAY' else 'color'))
            elif name == 'CTCLabelEncode':
                doc.check_keys(args, [], key)
                has_label = True
                if split == 'Train':
                    steps.append(dict(type='LoadOCRAnnotations', with_text=True))
            elif name == 'RecAug':
                args = doc.check_keys(args, ['use_tia', 'aug_prob', 'jitter_prob', 'blur_prob', 'hsv_aug_prob',
                                             'crop_prob', 'reverse_prob', 'noise_prob'], key)
                prob = float(args.get('aug_prob', 0.4))
                steps += [dict(type='RandomBrightnessContrast', brightness=0.3, contrast=0.3,
                               prob=float(args.get('jitter_prob', prob))),
                          dict(type='RandomGaussianBlur', prob=float(args.get('blur_prob', prob)), sigma=(0.3, 1.0))]
            elif name == 'RecResizeImg':
                args = doc.check_keys(args, ['image_shape', 'padding', 'infer_mode', 'character_dict_path'], key)
                steps.append(dict(type='RecResizeImg', image_shape=self._resize_shape(split),
                                  padding=bool(args.get('padding', True))))
            elif name == 'KeepKeys':
                doc.check_keys(args, ['keep_keys'], key)
        if not steps or steps[0]['type'] != 'LoadImageFromFile':
            raise doc.error(f'{split}.dataset.transforms', 'must start with DecodeImage')
        if mode == 'GRAY' and self._image_channels() != 1:
            raise doc.error(f'{split}.dataset.transforms', 'DecodeImage img_mode GRAY needs RecResizeImg '
                                                           'image_shape [1, H, W]')
        if not any(s['type'] == 'RecResizeImg' for s in steps):
            raise doc.error(f'{split}.dataset.transforms', 'needs RecResizeImg (the model takes a fixed height)')
        if split == 'Train' and not has_label:
            raise doc.error(f'{split}.dataset.transforms', 'training needs CTCLabelEncode')
        if split != 'Train' and has_label:  # test: the label is read after the resize, as the det translator does
            steps.append(dict(type='LoadOCRAnnotations', with_text=True))
        return steps + [dict(_PACK)]

    def dataset(self, split: str, dataset: dict, pipeline: list[dict]) -> dict:
        doc, key = self.doc, f'{split}.dataset'
        doc.named(dataset, key, self.dataset_types)
        if dataset['name'] == 'SimpleDataSet':
            out = super().dataset(split, dataset, pipeline)
        else:
            dataset = doc.check_keys(dataset, ['name', 'data_dir', 'transforms'], key)
            if not dataset.get('data_dir'):
                raise doc.error(f'{key}.data_dir', 'is required (an LMDB folder, or a folder of them)')
            out = dict(type='RecogLMDBDataset', ann_file=str(dataset['data_dir']), pipeline=pipeline)
            if split != 'Train':
                out['test_mode'] = True
            if self._image_channels() == 1:
                out['img_color_type'] = 'grayscale'
        if split == 'Train':
            out['filter_cfg'] = dict(max_text_len=int(doc.global_value('max_text_length')))
        return out

    def evaluator(self) -> dict | None:
        metric = self.doc.section('Metric', required=False)
        if not metric:
            return None
        self.doc.named(metric, 'Metric', ('RecMetric',))
        metric = self.doc.check_keys(metric, ['name', 'main_indicator', 'is_filter', 'ignore_space'], 'Metric')
        if metric.get('main_indicator', 'acc') not in ('acc', 'norm_edit_dis'):
            raise self.doc.error('Metric.main_indicator', f"must be acc or norm_edit_dis, got "
                                                          f"{metric.get('main_indicator')!r}")
        # RecMetric's acc: exact match (is_filter: letters and digits only, lower-cased); norm_edit_dis: 1 - N.E.D.
        mode = 'ignore_case_symbol' if metric.get('is_filter') else 'exact'
        return [dict(type='WordMetric', mode=[mode]), dict(type='OneMinusNEDMetric')]

    def best_metric(self) -> str | None:
        metric = self.doc.section('Metric', required=False)
        if not metric:
            return None
        if metric.get('main_indicator', 'acc') == 'norm_edit_dis':
            return 'recog/1-N.E.D'
        return 'recog/word_acc_ignore_case_symbol' if metric.get('is_filter') else 'recog/word_acc'

    def visualizer(self) -> dict:
        return dict(type='TextRecogLocalVisualizer')

    def inference_pipeline(self) -> list[dict]:
        return [s for s in self.pipeline('Eval') if s['type'] != 'LoadOCRAnnotations']

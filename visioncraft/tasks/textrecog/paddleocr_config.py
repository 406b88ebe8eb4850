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
* ``Backbone`` MobileNetV3 -> :class:`PPMobileNetV3` (PaddleOCR's layout and names; ``model_name``, ``scale``,
  ``large_stride`` / ``small_stride``, ``disable_se``), SVTRNet -> :class:`SVTREncoder`; other names pass through to
  the registry. ``Neck`` SequenceEncoder ``rnn`` -> :class:`StackedBiLSTMEncoder` (``hidden_size``), ``reshape``
  -> none; ``Head`` CTCHead ->
  :class:`CTCHead` with the CTC codec (blank first, as PaddleOCR). ``Loss`` CTCLoss, ``PostProcess``
  CTCLabelDecode and ``Metric`` RecMetric (-> :class:`WordMetric` + :class:`OneMinusNEDMetric`).
* Transforms: DecodeImage, CTCLabelEncode, RecAug (-> brightness/contrast + blur jitter: the recognition
  augmentations that exist here, not PaddleOCR's TIA warps), RecResizeImg, KeepKeys. PaddleOCR's rec
  normalisation ``(x / 255 - 0.5) / 0.5`` is the data preprocessor's mean / std 127.5.
* ``SimpleDataSet`` -> :class:`PaddleOCRRecDataset`; ``LMDBDataSet`` (``data_dir``: one LMDB or a folder of them)
  -> :class:`RecogLMDBDataset`.
"""
from __future__ import annotations

import os
from typing import Any

from visioncraft.config.compat.paddleocr import PaddleOCRTaskTranslator, register_paddleocr_translator

from .codecs.dictionary import BUILTIN_DICTS

__all__ = ['PaddleOCRRecTranslator']

_ALGORITHMS = ('CRNN', 'SVTR', 'SVTR_LCNet')
_TRANSFORMS = ('DecodeImage', 'CTCLabelEncode', 'MultiLabelEncode', 'RecAug', 'RecConAug', 'RecResizeImg', 'KeepKeys')
_LABEL_ENCODERS = ('CTCLabelEncode', 'MultiLabelEncode')
_PACK = dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio'))
# PaddleOCR SVTRNet argument -> SVTREncoder argument (the ones with a direct counterpart)
_SVTR_KEYS = dict(img_size='img_size', in_channels='in_channels', embed_dim='embed_dims', depth='depth',
                  num_heads='num_heads', mlp_ratio='mlp_ratio', qkv_bias='qkv_bias', qk_scale='qk_scale',
                  drop_rate='drop_rate', last_drop='last_drop', attn_drop_rate='attn_drop_rate',
                  drop_path_rate='drop_path_rate', out_channels='out_channels', prenorm='prenorm',
                  out_char_num='max_seq_len', sub_num='num_layers')
# SVTRNet arguments that must keep PaddleOCR's default (the only value implemented here)
_SVTR_FIXED = dict(last_stage=True, use_lenhead=False, norm_layer='nn.LayerNorm', sub_norm='nn.LayerNorm',
                   act='nn.GELU', block_unit='Block', epsilon=1e-6)
_SVTR_IGNORED = ('name', 'hidden_dim')

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
        if arch['Head'].get('name') == 'MultiHead':
            if encoder is not None:
                raise doc.error('Architecture.Neck', 'with Head MultiHead the CTC neck is the CTCHead entry\'s Neck '
                                                     '(head_list: - CTCHead: {Neck: ...}); set Neck: null')
            return self._multi_head(model, arch['Head'])
        model['decoder'] = self._head(arch['Head'])
        return model

    def _image_channels(self) -> int:
        """3, or 1 when RecResizeImg's image_shape (Train and Eval must agree) says grey."""
        found = {tuple(self._resize_shape(split)) for split in ('Train', 'Eval') if self.doc.data.get(split)
                 and any(name == 'RecResizeImg' for name, _, _ in self.doc.transforms(split))}
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
            model_name = cfg.get('model_name', 'small')
            if model_name not in ('large', 'small'):
                raise doc.error(f'{key}.model_name', f"must be 'large' or 'small', got {model_name!r}")
            scale = float(cfg.get('scale', 0.5))
            if scale not in (0.35, 0.5, 0.75, 1.0, 1.25):
                raise doc.error(f'{key}.scale', f"must be one of 0.35, 0.5, 0.75, 1.0, 1.25 (PaddleOCR's MobileNetV3 "
                                                f"scales), got {cfg.get('scale')!r}")
            # PaddleOCR's own layout and names (conv1, blocks.i, conv2): its .pdparams load by name
            out = dict(type='PPMobileNetV3', model_name=model_name, scale=scale, in_channels=channels,
                       disable_se=bool(cfg.get('disable_se', False)))
            strides = cfg.get(f'{model_name}_stride')
            if strides is not None:
                if not isinstance(strides, list) or len(strides) != 4 or any(v not in (1, 2) for v in strides):
                    raise doc.error(f'{key}.{model_name}_stride', f'must be a list of four strides 1 or 2, got '
                                                                   f'{strides!r}')
                out[f'{model_name}_stride'] = [int(v) for v in strides]
            self._check_mv3_height(out, key)
            return out
        if name == 'SVTRNet':
            return self._svtrnet(cfg, channels, key)
        if not name:
            raise doc.error(key, 'needs a name (MobileNetV3, SVTRNet or a registered backbone)')
        return self.pass_through(cfg, key)

    def _svtrnet(self, cfg: dict, channels: int, key: str) -> dict:
        """PaddleOCR's SVTRNet -> :class:`SVTREncoder` in PaddleOCR's behaviour: biased patch-embedding convs,
        Pool merging's average without the padding, ``prenorm`` (default True), ``out_char_num`` output columns
        (default 25), a dropout that scales at inference (``downscale_in_infer``), one window per stage, and
        PaddleOCR's mixer list sliced per stage."""
        doc = self.doc
        cfg = doc.check_keys(cfg, list(_SVTR_KEYS) + list(_SVTR_FIXED) + list(_SVTR_IGNORED) +
                             ['mixer', 'local_mixer', 'patch_merging'], key)
        for src, want in _SVTR_FIXED.items():
            if src in cfg and cfg[src] != want:
                raise doc.error(f'{key}.{src}', f'only {want!r} (PaddleOCR\'s default) is implemented, got '
                                                f'{cfg[src]!r}')
        out: dict[str, Any] = dict(type='SVTREncoder', in_channels=channels, prenorm=True, max_seq_len=25,
                                   patch_bias=True, pool_exclude_pad=True,
                                   last_drop_mode='downscale_in_infer')
        for src, dst in _SVTR_KEYS.items():
            if src in cfg and src != 'in_channels':
                value = cfg[src]
                out[dst] = tuple(value) if isinstance(value, list) else value
        depth = [int(d) for d in cfg.get('depth', [3, 6, 3])]
        if len(depth) != 3:
            raise doc.error(f'{key}.depth', f'SVTRNet has three stages: three depths, got {cfg.get("depth")!r}')
        if out.get('num_layers', 2) not in (2, 3):
            raise doc.error(f'{key}.sub_num', f'must be 2 or 3, got {cfg["sub_num"]!r}')
        merging = cfg.get('patch_merging', 'Conv')
        if merging not in ('Conv', 'Pool'):
            raise doc.error(f'{key}.patch_merging', f"only 'Conv' or 'Pool' is implemented (stages without a "
                                                    f"merge are not), got {merging!r}")
        out['merging_types'] = merging
        # PaddleOCR: stage 1 takes mixer[:d1], stage 2 mixer[d1:d1 + d2], stage 3 the first d3 of the rest
        mixer = cfg.get('mixer', ['Local'] * 6 + ['Global'] * 6)
        if not isinstance(mixer, list) or len(mixer) < sum(depth) or \
                set(mixer[:sum(depth)]) - {'Local', 'Global', 'Conv'}:
            raise doc.error(f'{key}.mixer', f"needs at least sum(depth) = {sum(depth)} entries of 'Local', "
                                            f"'Global' or 'Conv', got {mixer!r}")
        out['mixer_types'] = [str(m) for m in mixer[:sum(depth)]]
        windows = cfg.get('local_mixer', [[7, 11], [7, 11], [7, 11]])
        if not isinstance(windows, list) or len(windows) != 3 or not all(
                isinstance(w, list) and len(w) == 2 for w in windows):
            raise doc.error(f'{key}.local_mixer', f'must be three [h, w] windows (one per stage), got {windows!r}')
        out['window_size'] = tuple(tuple(int(v) for v in w) for w in windows)
        return out

    def _check_mv3_height(self, backbone: dict, key: str) -> None:
        """PaddleOCR's rec MobileNetV3 halves the height in its stem and at each stride, then a 2 x 2 max-pool; the
        CTC neck needs exactly one row: other input heights are a config error here, not a shape error later."""
        if not any(self.doc.data.get(split) for split in ('Train', 'Eval')):
            return
        split = 'Train' if self.doc.data.get('Train') else 'Eval'
        height = self._resize_shape(split)[1]
        name = backbone['model_name']
        strides = backbone.get(f'{name}_stride') or ([2, 2, 2, 2] if name == 'small' else [1, 2, 2, 2])
        h = -(-height // 2)
        for s in strides:
            h = -(-h // s)
        if h // 2 != 1:
            raise self.doc.error(f'{key}.{name}_stride', f'with RecResizeImg height {height} the backbone ends '
                                                         f'{h // 2} row(s) high (strides {strides}); the CTC neck '
                                                         'needs 1: set the strides (or the height) so it does')

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
            # PaddleOCR's EncoderWithRNN: two bidirectional LSTMs of hidden_size per direction, stacked directly
            return dict(type='StackedBiLSTMEncoder', hidden_channels=int(cfg.get('hidden_size', 48)), num_layers=2)
        raise doc.error(f'{key}.encoder_type', f"{kind!r} is not supported (supported: rnn, reshape)")

    def _dictionary(self) -> dict:
        doc = self.doc
        path = doc.global_value('character_dict_path')
        if not path:
            # PaddleOCR without a dictionary file: "0123456789abcdefghijklmnopqrstuvwxyz", labels lower-cased
            return dict(type='Dictionary', builtin='lower_english_digits', case='lower')
        stem = os.path.splitext(os.path.basename(str(path)))[0]
        if (not os.path.exists(str(path)) and str(path).replace('\\', '/').startswith('ppocr/utils/')
                and stem in BUILTIN_DICTS):
            # a list PaddleOCR ships in its source tree (ppocr/utils/ppocr_keys_v1.txt) and this library too
            out = dict(type='Dictionary', builtin=stem)
        else:
            out = dict(type='Dictionary', dict_file=str(path))
        if doc.global_value('use_space_char'):
            out['extra_chars'] = ' '
        return out

    def _multi_head(self, model: dict, cfg: dict) -> dict:
        """``Head: {name: MultiHead, head_list: [{CTCHead: {Neck, Head}}, {NRTRHead: {...}}]}`` + ``Loss: MultiLoss``
        -> :class:`MultiHeadRecognizer`: the CTC branch (neck + CTCHead, used at inference) and the NRTR branch
        (trained as an auxiliary loss only)."""
        doc, key = self.doc, 'Architecture.Head'
        cfg = doc.check_keys(cfg, ['name', 'head_list', 'out_channels_list', 'in_channels'], key)
        heads = cfg.get('head_list')
        if not isinstance(heads, list) or not all(isinstance(h, dict) and len(h) == 1 for h in heads):
            raise doc.error(f'{key}.head_list', 'must be a list of one-key mappings (- CTCHead: {...}, - NRTRHead: '
                                                '{...})')
        found: dict[str, tuple[dict, str]] = {}
        for i, entry in enumerate(heads):
            name, args = next(iter(entry.items()))
            hkey = f'{key}.head_list.{i}.{name}'
            if name not in ('CTCHead', 'NRTRHead'):
                raise doc.error(hkey, f'{name!r} is not supported in MultiHead (supported: CTCHead, NRTRHead; '
                                      'SARHead is not implemented)')
            if name in found:
                raise doc.error(hkey, f'{name} is listed twice')
            found[name] = (dict(args or {}), hkey)
        if 'CTCHead' not in found:
            raise doc.error(f'{key}.head_list', 'needs a CTCHead entry (the branch that reads the text)')
        ctc, ckey = found['CTCHead']
        ctc = doc.check_keys(ctc, ['Neck', 'Head'], ckey)
        neck = doc.check_keys(ctc.get('Neck'), ['name', 'dims', 'depth', 'hidden_dims', 'kernel_size',
                                                'use_guide', 'num_heads', 'mlp_ratio', 'qkv_bias', 'drop_rate',
                                                'attn_drop_rate'], f'{ckey}.Neck')
        if neck.get('name') != 'svtr':
            raise doc.error(f'{ckey}.Neck.name', f"only 'svtr' (EncoderWithSVTR) is supported, got "
                                                 f"{neck.get('name')!r}")
        model['encoder'] = dict(type='EncoderWithSVTR', **{k: (tuple(v) if isinstance(v, list) else v)
                                                           for k, v in neck.items() if k != 'name'})
        model['encoder'].setdefault('dims', 64)
        model['decoder'] = self._head(dict(ctc.get('Head') or {}, name='CTCHead'), f'{ckey}.Head', multi=True)
        loss_weights = self._multi_loss(with_gtc='NRTRHead' in found)
        model.update(type='MultiHeadRecognizer', ctc_weight=loss_weights[0], gtc_weight=loss_weights[1])
        if 'NRTRHead' in found:
            nrtr, nkey = found['NRTRHead']
            nrtr = doc.check_keys(nrtr, ['nrtr_dim', 'max_text_length', 'num_decoder_layers'], nkey)
            dim = int(nrtr.get('nrtr_dim', 256))
            if dim % 32:
                raise doc.error(f'{nkey}.nrtr_dim', f'must be a multiple of 32 (heads of 32 channels), got {dim}')
            dictionary = dict(self._dictionary(), with_start=True, with_end=True, with_padding=True,
                              with_unknown=True)
            # PaddleOCR's Transformer decoder: nrtr_dim // 32 heads of 32, feed-forward 4 x nrtr_dim, no encoder
            model['gtc_dim'] = dim
            model['gtc_head'] = dict(
                type='NRTRDecoder', n_layers=int(nrtr.get('num_decoder_layers', 4)), d_embedding=dim,
                n_head=dim // 32, d_k=32, d_v=32, d_model=dim, d_inner=4 * dim,
                n_position=max(200, int(nrtr.get('max_text_length', 25)) + 2), dropout=0.1,
                # PaddleOCR's Transformer: biased q/k/v projections and ReLU feed-forward (MMOCR's: neither)
                qkv_bias=True, act_cfg=dict(type='ReLU'),
                codec=dict(type='AttentionCodec', dictionary=dictionary,
                           max_seq_len=int(nrtr.get('max_text_length', doc.global_value('max_text_length'))) + 1),
                module_loss=dict(type='CEModuleLoss', ignore_first_char=True, flatten=True, reduction='mean',
                                 label_smoothing=self._nrtr_smoothing))
        return model

    _nrtr_smoothing = 0.1

    def _multi_loss(self, with_gtc: bool) -> tuple[float, float]:
        """``Loss: {name: MultiLoss, loss_config_list: [- CTCLoss:, - NRTRLoss:], weight_1, weight_2}`` -> the two
        weights (the losses themselves are the heads' ones)."""
        doc = self.doc
        loss = doc.section('Loss', required=False)
        if not loss:
            return 1.0, 1.0
        doc.named(loss, 'Loss', ('MultiLoss',))
        loss = doc.check_keys(loss, ['name', 'loss_config_list', 'weight_1', 'weight_2'], 'Loss')
        items = loss.get('loss_config_list')
        if not isinstance(items, list) or not all(isinstance(i, dict) and len(i) == 1 for i in items):
            raise doc.error('Loss.loss_config_list', 'must be a list of one-key mappings (- CTCLoss:, - NRTRLoss:)')
        names = []
        for i, item in enumerate(items):
            name, args = next(iter(item.items()))
            lkey = f'Loss.loss_config_list.{i}.{name}'
            if name == 'CTCLoss':
                args = doc.check_keys(args, ['use_focal_loss'], lkey)
                if args.get('use_focal_loss'):
                    raise doc.error(f'{lkey}.use_focal_loss', 'the focal CTC loss is not implemented; remove it')
            elif name == 'NRTRLoss':
                args = doc.check_keys(args, ['smoothing', 'ignore_index'], lkey)
                if args.get('ignore_index') not in (None, 0):
                    raise doc.error(f'{lkey}.ignore_index', 'the padding token is always ignored here; remove it')
                self._nrtr_smoothing = 0.1 if args.get('smoothing', True) else 0.0
            else:
                raise doc.error(lkey, f'{name!r} is not supported in MultiLoss (supported: CTCLoss, NRTRLoss)')
            names.append(name)
        if 'CTCLoss' not in names:
            raise doc.error('Loss.loss_config_list', 'needs CTCLoss (the CTC branch)')
        if ('NRTRLoss' in names) != with_gtc:
            raise doc.error('Loss.loss_config_list', 'NRTRLoss and the MultiHead NRTRHead go together')
        return float(loss.get('weight_1', 1.0)), float(loss.get('weight_2', 1.0))

    def _head(self, cfg: dict, key: str = 'Architecture.Head', multi: bool = False) -> dict:
        doc = self.doc
        custom = self.custom_part(cfg, key, 'CTCHead', 'head')
        if custom is not None:
            return custom
        cfg = doc.check_keys(cfg, ['name', 'fc_decay', 'mid_channels', 'in_channels', 'return_feats'], key)
        if cfg.get('mid_channels'):
            raise doc.error(f'{key}.mid_channels', 'a two-layer CTC head is not implemented; remove the key')
        loss = None if multi else doc.section('Loss', required=False)
        if loss:
            doc.named(loss, 'Loss', ('CTCLoss',))
            loss = doc.check_keys(loss, ['name', 'use_focal_loss'], 'Loss')
            if loss.get('use_focal_loss'):
                raise doc.error('Loss.use_focal_loss', 'the focal CTC loss is not implemented; set it to false')
        post = doc.section('PostProcess', required=False)
        if post:
            doc.named(post, 'PostProcess', ('CTCLabelDecode',))
            doc.check_keys(post, ['name', 'character_dict_path', 'use_space_char'], 'PostProcess')
        # MultiHead: PaddleOCR's CTCLoss (each sample's loss averaged over the batch), as PP-OCRv4's recipe
        return dict(type='CTCHead', codec=dict(type='CTCCodec', dictionary=self._dictionary(), blank='first'),
                    loss=dict(type='CTCLoss', reduction='batch_mean' if multi else 'mean', zero_infinity=True))

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
            elif name in _LABEL_ENCODERS:
                if name == 'MultiLabelEncode':
                    args = doc.check_keys(args, ['gtc_encode', 'max_text_length', 'character_dict_path',
                                                 'use_space_char'], key)
                    if args.get('gtc_encode', 'NRTRLabelEncode') != 'NRTRLabelEncode':
                        raise doc.error(f'{key}.gtc_encode', f"only NRTRLabelEncode is supported (the NRTRHead's "
                                                             f"labels), got {args.get('gtc_encode')!r}")
                    if self.doc.section('Architecture')['Head'].get('name') != 'MultiHead':
                        raise doc.error(key, 'MultiLabelEncode needs Architecture.Head MultiHead; use '
                                             'CTCLabelEncode for a CTCHead')
                else:
                    doc.check_keys(args, [], key)
                # one text label per sample: each head's codec encodes it (CTC / NRTR tokens)
                has_label = True
                if split == 'Train':
                    steps.append(dict(type='LoadOCRAnnotations', with_text=True))
            elif name == 'RecConAug':
                raise doc.error(key, 'RecConAug (joining random training words side by side) is not implemented; '
                                     'remove it')
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
            raise doc.error(f'{split}.dataset.transforms', 'training needs CTCLabelEncode (or MultiLabelEncode)')
        if split != 'Train' and has_label:  # test: the label is read after the resize, as the det translator does
            steps.append(dict(type='LoadOCRAnnotations', with_text=True))
        return steps + [dict(_PACK)]

    def dataset(self, split: str, dataset: dict, pipeline: list[dict]) -> dict:
        doc, key = self.doc, f'{split}.dataset'
        if isinstance(dataset, dict) and dataset.get('name') == 'MultiScaleDataSet':
            raise doc.error(f'{key}.name', 'MultiScaleDataSet (a height / width per batch from MultiScaleSampler) is '
                                           'not implemented: use SimpleDataSet with RecResizeImg image_shape '
                                           '[3, 48, 320] in the transforms and no sampler')
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

"""The ``det`` translator of PaddleOCR-layout configs (``Architecture.model_type: det``, algorithm DB / DB++).

Registered with :func:`visioncraft.config.compat.paddleocr.register_paddleocr_translator` (in
:data:`visioncraft.registry.PADDLE_TRANSLATORS`); the generic part (Global, Optimizer, loaders) is in
:mod:`visioncraft.config.compat.paddleocr`. What it reads and how each key maps is in
docs/paddleocr.md. In short:

* ``Backbone`` MobileNetV3 -> :class:`PPDetMobileNetV3` and ResNet_vd -> :class:`PPResNetVd` (PaddleOCR's layouts
  and names: its ``.pdparams`` and PaddleClas's ImageNet backbones load); ResNet (``layers`` -> ``depth``) and
  ResNet_vd with ``dcn_stage`` -> ``ResNet`` / ``ResNetV1d`` with DCNv2 stages. ``Neck`` DBFPN (``out_channels`` C)
  -> ``FPNC(lateral_channels=C, out_channels=C // 4)`` (+ ASF with ``use_asf``). ``Head`` DBHead (``k``).
  Other Backbone / Neck / Head names pass through as ``type=name`` with the remaining keys, so a registered
  custom module works (and an unregistered one is a registry error with the closest names).
* ``Loss`` DBLoss (``alpha``, ``beta``, ``ohem_ratio``), ``MakeShrinkMap`` / ``MakeBorderMap`` and ``PostProcess``
  DBPostProcess: the head's ONE :class:`DBCodec` (training targets and decoding in one place); the maps are made
  in the data pipeline, as in PaddleOCR, by ``GenerateDBTargets`` with that same codec config.
* ``NormalizeImage`` -> the model's ``data_preprocessor`` (mean / std divided by ``scale``), channel order from
  ``DecodeImage.img_mode``; the other transforms -> the text-detection pipeline; ``Metric`` DetMetric ->
  ``HmeanIOUMetric``; ``SimpleDataSet`` -> ``PaddleOCRDetDataset``.
"""
from __future__ import annotations

from typing import Any

from visioncraft.config.compat.paddleocr import (PaddleOCRTaskTranslator, parse_number_expr,
                                                 register_paddleocr_translator)

__all__ = ['PaddleOCRDetTranslator']

_ALGORITHMS = ('DB', 'DB++')
_MV3_SCALES = (0.35, 0.5, 0.75, 1.0, 1.25)
_VD_LAYERS = (18, 34, 50, 101, 152, 200)
_TRANSFORMS = ('DecodeImage', 'DetLabelEncode', 'IaaAugment', 'EastRandomCropData', 'MakeBorderMap', 'MakeShrinkMap',
               'NormalizeImage', 'ToCHWImage', 'KeepKeys', 'DetResizeForTest')
_DEFAULT_IAA = [dict(type='Fliplr', args=dict(p=0.5)), dict(type='Affine', args=dict(rotate=[-10, 10])),
                dict(type='Resize', args=dict(size=[0.5, 3]))]
# PaddleOCR's defaults (ppocr/data/imaug/make_*_map.py, ppocr/postprocess/db_postprocess.py)
_BORDER_DEFAULTS = dict(shrink_ratio=0.4, thresh_min=0.3, thresh_max=0.7)
_SHRINK_DEFAULTS = dict(shrink_ratio=0.4, min_text_size=8)
_POST_DEFAULTS = dict(thresh=0.3, box_thresh=0.7, max_candidates=1000, unclip_ratio=2.0, use_dilation=False,
                      score_mode='fast', box_type='quad')


@register_paddleocr_translator('det')
class PaddleOCRDetTranslator(PaddleOCRTaskTranslator):
    """PaddleOCR ``det`` configs (DB, DB++) -> ``DBNet``."""

    dataset_types = {'SimpleDataSet': 'PaddleOCRDetDataset'}

    # -- model -----------------------------------------------------------------------------------------
    def model(self) -> dict:
        doc = self.doc
        arch = doc.check_keys(doc.section('Architecture'),
                              ['model_type', 'algorithm', 'Transform', 'Backbone', 'Neck', 'Head'], 'Architecture')
        algorithm = arch.get('algorithm')
        if algorithm not in _ALGORITHMS:
            raise doc.error('Architecture.algorithm', f'{algorithm!r} is not supported for model_type det '
                                                      f'(supported: {", ".join(_ALGORITHMS)})')
        if arch.get('Transform'):
            raise doc.error('Architecture.Transform', 'detection models have no Transform stage; leave it empty')
        for part in ('Backbone', 'Head'):
            if not isinstance(arch.get(part), dict):
                raise doc.error(f'Architecture.{part}', 'is required (a mapping with a name)')
        mean, std, bgr_to_rgb = self._normalization()
        model: dict[str, Any] = dict(
            type='DBNet',
            data_preprocessor=dict(type='ImgDataPreprocessor', mean=mean, std=std, bgr_to_rgb=bgr_to_rgb,
                                   pad_size_divisor=32),
            backbone=self._backbone(arch['Backbone']))
        if arch.get('Neck') is not None:
            model['neck'] = self._neck(arch['Neck'], asf_default=algorithm == 'DB++')
        model['det_head'] = self._head(arch['Head'])
        return model

    def _backbone(self, cfg: dict) -> dict:
        doc, key = self.doc, 'Architecture.Backbone'
        name = cfg.get('name')
        if not name:
            raise doc.error(key, 'needs a name (MobileNetV3, ResNet, ResNet_vd or a registered backbone)')
        if name == 'MobileNetV3':
            cfg = doc.check_keys(cfg, ['name', 'in_channels', 'model_name', 'scale', 'disable_se'], key)
            if cfg.get('model_name', 'large') not in ('large', 'small'):
                raise doc.error(f'{key}.model_name', f"must be 'large' or 'small', got {cfg.get('model_name')!r}")
            scale = float(cfg.get('scale', 0.5))
            if scale not in _MV3_SCALES:
                raise doc.error(f'{key}.scale', f'must be one of {", ".join(map(str, _MV3_SCALES))} (PaddleOCR\'s '
                                                f'MobileNetV3 scales), got {cfg.get("scale")!r}')
            # PaddleOCR's own layout and names (conv, stage0..3), so its .pdparams and PaddleClas's ImageNet
            # MobileNetV3 weights load (docs/paddleocr.md)
            return dict(type='PPDetMobileNetV3', model_name=cfg.get('model_name', 'large'), scale=scale,
                        disable_se=bool(cfg.get('disable_se', False)), in_channels=self._in_channels(cfg, key))
        if name in ('ResNet', 'ResNet_vd'):
            cfg = doc.check_keys(cfg, ['name', 'in_channels', 'layers', 'dcn_stage', 'out_indices'], key)
            depth = cfg.get('layers', 50)
            stages = tuple(bool(s) for s in (cfg.get('dcn_stage') or (False,) * 4))
            if len(stages) != 4:
                raise doc.error(f'{key}.dcn_stage', f'needs one flag per stage (4), got {cfg.get("dcn_stage")!r}')
            out_indices = tuple(int(i) for i in cfg.get('out_indices') or (0, 1, 2, 3))
            if name == 'ResNet_vd' and not any(stages):
                if int(depth) not in _VD_LAYERS:
                    raise doc.error(f'{key}.layers', f'must be one of {", ".join(map(str, _VD_LAYERS))}, got {depth!r}')
                # PaddleOCR's own layout and names (conv1_1..3, bb_{stage}_{block}): its .pdparams and PaddleClas's
                # ResNet*_vd ImageNet weights load
                return dict(type='PPResNetVd', layers=int(depth), in_channels=self._in_channels(cfg, key),
                            out_indices=out_indices)
            out = dict(type='ResNetV1d' if name == 'ResNet_vd' else 'ResNet', depth=int(depth),
                       in_channels=self._in_channels(cfg, key),
                       out_indices=out_indices, frozen_stages=-1,
                       norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, style='pytorch')
            if any(stages):
                if int(depth) < 50:
                    raise doc.error(f'{key}.dcn_stage', f'PaddleOCR ignores dcn_stage for layers < 50 (got {depth}); '
                                                        'remove it or use 50+ layers')
                # PaddleOCR's deformable 3x3 convs: 2 offset groups in ResNet_vd, 1 in ResNet
                out.update(dcn=dict(type='DCNv2', deform_groups=2 if name == 'ResNet_vd' else 1),
                           stage_with_dcn=stages)
            return out
        return self.pass_through(cfg, key)

    def _in_channels(self, cfg: dict, key: str) -> int:
        value = cfg.get('in_channels', 3)
        if value != 3:
            raise self.doc.error(f'{key}.in_channels', f'the detection pipeline feeds 3-channel images, got {value!r}')
        return 3

    def _neck(self, cfg: dict, asf_default: bool) -> dict:
        doc, key = self.doc, 'Architecture.Neck'
        if not isinstance(cfg, dict) or not cfg.get('name'):
            raise doc.error(key, f'needs a name (DBFPN or a registered neck), got {cfg!r}')
        if cfg['name'] != 'DBFPN':
            return self.pass_through(cfg, key)
        cfg = doc.check_keys(cfg, ['name', 'out_channels', 'use_asf'], key)
        channels = int(cfg.get('out_channels', 256))
        if channels % 4:
            raise doc.error(f'{key}.out_channels', f'must be a multiple of 4 (4 levels concatenated), got {channels}')
        # DBFPN: 1x1 laterals to C, top-down sum, 3x3 convs to C / 4 per level, all 4 levels concatenated (C)
        neck = dict(type='FPNC', lateral_channels=channels, out_channels=channels // 4)
        if cfg.get('use_asf', asf_default):
            neck['asf_cfg'] = dict(attention_type='ScaleChannelSpatial')
        return neck

    def _head(self, cfg: dict) -> dict:
        doc, key = self.doc, 'Architecture.Head'
        custom = self.custom_part(cfg, key, 'DBHead', 'head')
        if custom is not None:
            return custom
        cfg = doc.check_keys(cfg, ['name', 'k', 'in_channels', 'fix_nan'], key)
        return dict(type='DBHead', k=float(cfg.get('k', 50)), loss=self._loss(), codec=self._codec())

    def _loss(self) -> dict:
        doc = self.doc
        loss = doc.section('Loss', required=False)
        if not loss:
            return dict(type='DBLoss')
        doc.named(loss, 'Loss', ('DBLoss',))
        loss = doc.check_keys(loss, ['name', 'balance_loss', 'main_loss_type', 'alpha', 'beta', 'ohem_ratio', 'eps'],
                              'Loss')
        if not loss.get('balance_loss', True):
            raise doc.error('Loss.balance_loss', 'only the balanced (OHEM) probability-map loss is implemented')
        if loss.get('main_loss_type', 'DiceLoss') not in ('DiceLoss', 'BCELoss'):
            raise doc.error('Loss.main_loss_type', f"must be DiceLoss or BCELoss, got {loss.get('main_loss_type')!r}")
        # the probability map always gets the paper's balanced BCE with hard negatives (PaddleOCR's BalanceLoss
        # with main_loss_type DiceLoss balances a whole-map dice value; see docs/paddleocr.md), the approximate
        # binary map dice, the threshold map masked L1.
        out = dict(type='DBLoss', loss_prob_weight=float(loss.get('alpha', 5)),
                   loss_thr_weight=float(loss.get('beta', 10)), loss_db_weight=1.0,
                   negative_ratio=float(loss.get('ohem_ratio', 3)))
        if 'eps' in loss:
            out['eps'] = float(loss['eps'])
        return out

    def _codec(self) -> dict:
        """The ONE DBCodec: MakeBorderMap + MakeShrinkMap (targets) and PostProcess DBPostProcess (decoding)."""
        doc = self.doc
        border, shrink = dict(_BORDER_DEFAULTS), dict(_SHRINK_DEFAULTS)
        seen = {}
        if doc.data.get('Train') is not None:
            for name, args, key in doc.transforms('Train'):
                if name == 'MakeBorderMap':
                    border.update(doc.check_keys(args, list(_BORDER_DEFAULTS), key))
                    seen[name] = key
                elif name == 'MakeShrinkMap':
                    shrink.update(doc.check_keys(args, list(_SHRINK_DEFAULTS), key))
                    seen[name] = key
        if float(border['shrink_ratio']) != float(shrink['shrink_ratio']):
            raise doc.error(seen.get('MakeShrinkMap', 'MakeShrinkMap') + '.shrink_ratio',
                            f"{shrink['shrink_ratio']} differs from MakeBorderMap's {border['shrink_ratio']}: "
                            'the shrunk kernel and the threshold border must use one shrink_ratio')
        post = dict(_POST_DEFAULTS)
        section = doc.section('PostProcess', required=False)
        if section:
            doc.named(section, 'PostProcess', ('DBPostProcess',))
            post.update(doc.check_keys(section, ['name', *_POST_DEFAULTS, 'visual_output'], 'PostProcess'))
        if post['score_mode'] not in ('fast', 'slow'):
            raise doc.error('PostProcess.score_mode', f"must be 'fast' or 'slow', got {post['score_mode']!r}")
        if post['box_type'] not in ('quad', 'poly'):
            raise doc.error('PostProcess.box_type', f"must be 'quad' or 'poly', got {post['box_type']!r}")
        return dict(type='DBCodec', shrink_ratio=float(shrink['shrink_ratio']), thr_min=float(border['thresh_min']),
                    thr_max=float(border['thresh_max']), min_text_size=int(shrink['min_text_size']),
                    thresh=float(post['thresh']), box_thresh=float(post['box_thresh']),
                    unclip_ratio=None if post['unclip_ratio'] is None else float(post['unclip_ratio']),
                    max_candidates=int(post['max_candidates']), text_repr_type=post['box_type'],
                    score_mode=post['score_mode'], use_dilation=bool(post['use_dilation']),
                    min_box_size=3)  # DBPostProcess's fixed min_size, whatever MakeShrinkMap's min_text_size

    def _normalization(self) -> tuple[list[float] | None, list[float] | None, bool]:
        """(mean, std, bgr_to_rgb) of the data preprocessor from NormalizeImage and DecodeImage; the Train and
        Eval pipelines must agree (the model has one preprocessor)."""
        doc = self.doc
        found: dict[str, tuple] = {}
        for split in ('Train', 'Eval'):
            if doc.data.get(split) is None:
                continue
            mode, norm = 'RGB', (None, None)  # PaddleOCR's DecodeImage default img_mode is RGB
            for name, args, key in doc.transforms(split):
                if name == 'DecodeImage':
                    args = doc.check_keys(args, ['img_mode', 'channel_first', 'ignore_orientation'], key)
                    mode = args.get('img_mode', 'RGB')
                    if mode not in ('BGR', 'RGB'):
                        raise doc.error(f'{key}.img_mode', f"must be 'BGR' or 'RGB' for detection, got {mode!r}")
                    if args.get('channel_first'):
                        raise doc.error(f'{key}.channel_first', 'must be false (ToCHWImage makes the CHW tensor)')
                elif name == 'NormalizeImage':
                    args = doc.check_keys(args, ['scale', 'mean', 'std', 'order'], key)
                    scale = parse_number_expr(args.get('scale', 1.0 / 255), f'{doc.label}: {key}.scale')
                    mean = [float(m) / scale for m in args.get('mean', [0.485, 0.456, 0.406])]
                    std = [float(s) / scale for s in args.get('std', [0.229, 0.224, 0.225])]
                    if len(mean) != 3 or len(std) != 3:
                        raise doc.error(key, f'mean and std need 3 values each, got {mean} and {std}')
                    norm = (tuple(round(m, 6) for m in mean), tuple(round(s, 6) for s in std))
            found[split] = (mode, norm)
        if len(set(found.values())) > 1:
            raise doc.error('Eval.dataset.transforms', f'DecodeImage / NormalizeImage differ between Train '
                                                       f'{found["Train"]} and Eval {found["Eval"]}; the model has one '
                                                       'normalisation')
        mode, (mean, std) = next(iter(found.values()), ('RGB', (None, None)))
        # the pipeline decodes BGR; PaddleOCR applies mean / std to the channels in the decoded order
        return (None if mean is None else list(mean)), (None if std is None else list(std)), mode == 'RGB'

    # -- data ------------------------------------------------------------------------------------------
    def pipeline(self, split: str) -> list[dict]:
        doc = self.doc
        steps: list[dict] = []
        has_label = has_maps = False
        for name, args, key in doc.transforms(split):
            if name not in _TRANSFORMS:
                raise doc.error(key, f'transform {name!r} is not supported for det (supported: '
                                     f'{", ".join(_TRANSFORMS)})')
            if name == 'DecodeImage':
                steps.append(dict(type='LoadImageFromFile'))
            elif name == 'DetLabelEncode':
                doc.check_keys(args, [], key)
                has_label = True
                if split == 'Train':
                    steps.append(dict(type='LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True))
            elif name == 'IaaAugment':
                steps += self._iaa(doc.check_keys(args, ['augmenter_args'], key), key)
            elif name == 'EastRandomCropData':
                args = doc.check_keys(args, ['size', 'max_tries', 'keep_ratio', 'min_crop_side_ratio'], key)
                w, h = (int(v) for v in args.get('size', (640, 640)))  # PaddleOCR's size is (w, h)
                crop = dict(type='TextDetRandomCrop', max_tries=int(args.get('max_tries', 10)),
                            min_crop_side_ratio=float(args.get('min_crop_side_ratio', 0.1)))
                if args.get('keep_ratio', True):
                    steps.append(dict(crop, target_size=(w, h)))
                else:
                    steps += [dict(crop, target_size=None), dict(type='Resize', scale=(w, h), keep_ratio=False)]
            elif name == 'DetResizeForTest':
                args = doc.check_keys(args, ['image_shape', 'keep_ratio', 'limit_side_len', 'limit_type',
                                             'resize_long', 'max_side_limit'], key)
                steps.append(self._det_resize(args))
            elif name == 'KeepKeys':
                doc.check_keys(args, ['keep_keys'], key)
            elif name in ('MakeBorderMap', 'MakeShrinkMap'):
                has_maps = split == 'Train'
            # MakeBorderMap / MakeShrinkMap -> the head's codec (+ GenerateDBTargets); NormalizeImage -> the data
            # preprocessor; ToCHWImage -> PackTextDetInputs
        if not steps or steps[0]['type'] != 'LoadImageFromFile':
            raise doc.error(f'{split}.dataset.transforms', 'must start with DecodeImage')
        if split == 'Train':
            if not has_label:
                raise doc.error(f'{split}.dataset.transforms', 'training needs DetLabelEncode')
            steps.append(dict(type='PackTextDetInputs', meta_keys=('img_path', 'ori_shape', 'img_shape')))
            if has_maps:
                # as in PaddleOCR the maps are made in the data pipeline (DataLoader workers), by the head's own
                # codec config: DBHead refuses targets whose encode settings differ from its codec's
                steps.append(dict(type='GenerateDBTargets', codec=self._codec()))
            return steps
        # test: ground truth loaded after the resize, so it stays in original-image pixels (docs/data_contract.md)
        if has_label:
            steps.append(dict(type='LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True))
        return steps + [dict(type='PackTextDetInputs', meta_keys=('img_path', 'ori_shape', 'img_shape',
                                                                  'scale_factor'))]

    @staticmethod
    def _det_resize(args: dict) -> dict:
        out = dict(type='DetResizeForTest')
        if args.get('image_shape') is not None:
            out.update(image_shape=tuple(int(v) for v in args['image_shape']),
                       keep_ratio=bool(args.get('keep_ratio', False)))
        elif args.get('limit_side_len') is not None:
            out.update(limit_side_len=int(args['limit_side_len']), limit_type=args.get('limit_type', 'min'))
        elif args.get('resize_long') is not None:
            out.update(resize_long=int(args['resize_long']))
        else:  # PaddleOCR's default: short side at least 736
            out.update(limit_side_len=736, limit_type='min')
        if args.get('max_side_limit') is not None:
            out['max_side_limit'] = int(args['max_side_limit'])
        return out

    def _iaa(self, args: dict, key: str) -> list[dict]:
        doc = self.doc
        augs = args.get('augmenter_args')
        augs = _DEFAULT_IAA if augs is None else augs
        if not isinstance(augs, list):
            raise doc.error(f'{key}.augmenter_args', f'must be a list of {{type, args}}, got {augs!r}')
        steps = []
        for i, aug in enumerate(augs):
            akey = f'{key}.augmenter_args.{i}'
            aug = doc.check_keys(aug, ['type', 'args'], akey)
            kind, a = aug.get('type'), dict(aug.get('args') or {})
            if kind == 'Fliplr':
                doc.check_keys(a, ['p'], f'{akey}.args')
                steps.append(dict(type='RandomFlip', prob=float(a.get('p', 0.5)), direction='horizontal'))
            elif kind == 'Affine':
                doc.check_keys(a, ['rotate'], f'{akey}.args')
                rot = a.get('rotate', [-10, 10])
                lo, hi = (-abs(float(rot)), abs(float(rot))) if isinstance(rot, (int, float)) else map(float, rot)
                if lo != -hi:
                    raise doc.error(f'{akey}.args.rotate', f'only a symmetric range [-a, a] is supported, got {rot!r}')
                steps.append(dict(type='RandomRotate', max_angle=hi))
            elif kind == 'Resize':
                doc.check_keys(a, ['size'], f'{akey}.args')
                size = a.get('size', [0.5, 3])
                lo, hi = (float(size), float(size)) if isinstance(size, (int, float)) else map(float, size)
                steps.append(dict(type='RandomScale', ratio_range=(lo, hi)))
            else:
                raise doc.error(f'{akey}.type', f'{kind!r} is not supported (supported: Fliplr, Affine with rotate, '
                                                'Resize with size)')
        return steps

    def evaluator(self) -> dict | None:
        metric = self.doc.section('Metric', required=False)
        if not metric:
            return None
        self.doc.named(metric, 'Metric', ('DetMetric',))
        metric = self.doc.check_keys(metric, ['name', 'main_indicator'], 'Metric')
        if metric.get('main_indicator', 'hmean') not in ('hmean', 'precision', 'recall'):
            raise self.doc.error('Metric.main_indicator', f"must be hmean, precision or recall, got "
                                                          f"{metric.get('main_indicator')!r}")
        # PaddleOCR's DetMetric scores every box the post-processor keeps (box_thresh already applied): no sweep
        # over score thresholds, IoU 0.5, do-not-care regions ignored (ICDAR 2015 protocol)
        return dict(type='HmeanIOUMetric', match_iou_thr=0.5, pred_score_thrs=[0.0])

    def best_metric(self) -> str | None:
        metric = self.doc.section('Metric', required=False)
        return f"icdar/{metric.get('main_indicator', 'hmean')}" if metric else None

    def visualizer(self) -> dict:
        return dict(type='TextDetLocalVisualizer')

    def inference_pipeline(self) -> list[dict]:
        return [s for s in self.pipeline('Eval') if s['type'] != 'LoadOCRAnnotations']

"""The ``cls`` translator of PaddleOCR-layout configs (``Architecture.model_type: cls``, algorithm CLS): PP-OCR's
text-direction classifier (``configs/cls/cls_mv3.yml``).

* ``Backbone: MobileNetV3`` (``model_name``, ``scale``, ``small_stride`` / ``large_stride``) ->
  :class:`PPMobileNetV3` (PaddleOCR's text-line MobileNetV3, the one the official classifier uses);
* ``Head: ClsHead`` (``class_dim``) -> :class:`TextClsHead`; ``Loss: ClsLoss`` -> the model's cross entropy;
  ``PostProcess: ClsPostProcess`` (``label_list``) and ``Global.label_list`` -> the model's ``labels``;
* ``Metric: ClsMetric`` -> :class:`Accuracy` (``accuracy/top1``, in percent; PaddleOCR reports a fraction);
* transforms: ``DecodeImage``, ``ClsLabelEncode`` (the dataset maps each label to its ``label_list`` index),
  ``BaseDataAugmentation`` / ``RecAug`` (brightness / contrast jitter and blur, the augmentations that exist
  here), ``ClsResizeImg`` (height H keeping the aspect ratio, width up to W, padded on the right to W with the
  value that normalises to 0, as PaddleOCR pads the normalised image with zeros), ``KeepKeys``;
* ``SimpleDataSet`` -> :class:`PaddleOCRClsDataset`.

The image is normalised as PaddleOCR does, ``(x - 127.5) / 127.5`` per channel, BGR as read.
"""
from __future__ import annotations

from visioncraft.config.compat.paddleocr import PaddleOCRTaskTranslator, register_paddleocr_translator

__all__ = ['PaddleOCRClsTranslator']

_TRANSFORMS = ('DecodeImage', 'ClsLabelEncode', 'BaseDataAugmentation', 'RecAug', 'RandAugment', 'ClsResizeImg',
               'KeepKeys')
_PACK = dict(type='PackInputs', meta_keys=('img_path', 'ori_shape', 'img_shape'))


@register_paddleocr_translator('cls')
class PaddleOCRClsTranslator(PaddleOCRTaskTranslator):
    """PaddleOCR ``cls`` configs -> :class:`TextDirectionClassifier`."""

    dataset_types = {'SimpleDataSet': 'PaddleOCRClsDataset'}

    def _labels(self) -> list[str]:
        doc = self.doc
        labels = doc.global_value('label_list')
        post = doc.section('PostProcess', required=False)
        if post:
            doc.named(post, 'PostProcess', ('ClsPostProcess',))
            post = doc.check_keys(post, ['name', 'label_list', 'key'], 'PostProcess')
            if post.get('label_list') is not None:
                if labels is not None and [str(v) for v in post['label_list']] != [str(v) for v in labels]:
                    raise doc.error('PostProcess.label_list', f'{post["label_list"]!r} differs from Global.label_list '
                                                              f'{labels!r}')
                labels = post['label_list']
        labels = ['0', '180'] if labels is None else labels
        if not isinstance(labels, list) or len(labels) < 2 or len({str(v) for v in labels}) != len(labels):
            raise doc.error('Global.label_list', f'must be a list of at least two distinct labels, got {labels!r}')
        return [str(v) for v in labels]

    # -- model -----------------------------------------------------------------------------------------
    def model(self) -> dict:
        doc = self.doc
        arch = doc.check_keys(doc.section('Architecture'),
                              ['model_type', 'algorithm', 'Transform', 'Backbone', 'Neck', 'Head'], 'Architecture')
        if arch.get('algorithm', 'CLS') != 'CLS':
            raise doc.error('Architecture.algorithm', f"must be CLS for model_type cls, got {arch.get('algorithm')!r}")
        for part in ('Transform', 'Neck'):
            if arch.get(part):
                raise doc.error(f'Architecture.{part}', f'the classifier has no {part.lower()} here; set {part}: null')
        labels = self._labels()
        return dict(type='TextDirectionClassifier',
                    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
                                           bgr_to_rgb=False),
                    backbone=self._backbone(arch.get('Backbone')), head=self._head(arch.get('Head'), len(labels)),
                    labels=labels)

    def _backbone(self, cfg) -> dict:
        doc, key = self.doc, 'Architecture.Backbone'
        if not isinstance(cfg, dict) or not cfg.get('name'):
            raise doc.error(key, 'is required (a mapping with a name: MobileNetV3 or a registered backbone)')
        if cfg['name'] != 'MobileNetV3':
            return self.pass_through(cfg, key)
        cfg = doc.check_keys(cfg, ['name', 'in_channels', 'model_name', 'scale', 'small_stride', 'large_stride',
                                   'disable_se'], key)
        name = cfg.get('model_name', 'small')
        if name not in ('small', 'large'):
            raise doc.error(f'{key}.model_name', f"must be 'small' or 'large', got {name!r}")
        out = dict(type='PPMobileNetV3', model_name=name, scale=float(cfg.get('scale', 0.5)))
        for k in ('small_stride', 'large_stride'):
            if cfg.get(k) is not None:
                out[k] = [int(s) for s in cfg[k]]
        if cfg.get('disable_se'):
            out['disable_se'] = True
        return out

    def _head(self, cfg, num_labels: int) -> dict:
        doc, key = self.doc, 'Architecture.Head'
        if not isinstance(cfg, dict) or not cfg.get('name'):
            raise doc.error(key, 'is required (a mapping with a name: ClsHead or a registered head)')
        if cfg['name'] != 'ClsHead':
            return self.pass_through(cfg, key)
        cfg = doc.check_keys(cfg, ['name', 'class_dim', 'in_channels'], key)
        classes = int(cfg.get('class_dim', num_labels))
        if classes != num_labels:
            raise doc.error(f'{key}.class_dim', f'is {classes} but label_list has {num_labels} labels')
        loss = doc.section('Loss', required=False)
        if loss:
            doc.named(loss, 'Loss', ('ClsLoss',))
            doc.check_keys(loss, ['name', 'main_indicator'], 'Loss')
        return dict(type='TextClsHead', num_classes=classes)

    # -- data ------------------------------------------------------------------------------------------
    def _resize_shape(self, args: dict, key: str) -> list[int]:
        shape = args.get('image_shape', [3, 48, 192])
        if not isinstance(shape, list) or len(shape) != 3 or shape[0] != 3 or min(shape) < 1:
            raise self.doc.error(f'{key}.image_shape', f'must be [3, H, W], got {shape!r}')
        return [int(v) for v in shape]

    def pipeline(self, split: str) -> list[dict]:
        doc = self.doc
        steps: list[dict] = []
        has_label = False
        for name, args, key in doc.transforms(split):
            if name not in _TRANSFORMS:
                raise doc.error(key, f'transform {name!r} is not supported for cls (supported: '
                                     f'{", ".join(t for t in _TRANSFORMS if t != "RandAugment")})')
            if name == 'DecodeImage':
                args = doc.check_keys(args, ['img_mode', 'channel_first'], key)
                if args.get('img_mode', 'BGR') != 'BGR':
                    raise doc.error(f'{key}.img_mode', f"must be BGR (the classifier's input), got "
                                                       f"{args.get('img_mode')!r}")
                if args.get('channel_first'):
                    raise doc.error(f'{key}.channel_first', 'must be false')
                steps.append(dict(type='LoadImageFromFile', color_type='color'))
            elif name == 'ClsLabelEncode':
                doc.check_keys(args, ['label_list'], key)
                has_label = True
            elif name in ('BaseDataAugmentation', 'RecAug'):
                args = doc.check_keys(args, ['crop_prob', 'reverse_prob', 'noise_prob', 'jitter_prob', 'blur_prob',
                                             'hsv_aug_prob', 'use_tia', 'aug_prob'], key)
                prob = float(args.get('aug_prob', 0.4))
                steps += [dict(type='RandomBrightnessContrast', brightness=0.3, contrast=0.3,
                               prob=float(args.get('jitter_prob', prob))),
                          dict(type='RandomGaussianBlur', prob=float(args.get('blur_prob', prob)), sigma=(0.3, 1.0))]
            elif name == 'RandAugment':
                raise doc.error(key, 'RandAugment (random policies of colour / geometry operations) is not '
                                     'implemented; remove it')
            elif name == 'ClsResizeImg':
                args = doc.check_keys(args, ['image_shape'], key)
                # PaddleOCR's resize_norm_img: pad value 127 is ~0 after (x - 127.5) / 127.5
                steps.append(dict(type='RecResizeImg', image_shape=self._resize_shape(args, key), padding=True))
            elif name == 'KeepKeys':
                doc.check_keys(args, ['keep_keys'], key)
        if not steps or steps[0]['type'] != 'LoadImageFromFile':
            raise doc.error(f'{split}.dataset.transforms', 'must start with DecodeImage')
        if not any(s['type'] == 'RecResizeImg' for s in steps):
            raise doc.error(f'{split}.dataset.transforms', 'needs ClsResizeImg (the model takes a fixed height)')
        if split == 'Train' and not has_label:
            raise doc.error(f'{split}.dataset.transforms', 'training needs ClsLabelEncode')
        return steps + [dict(_PACK)]

    def dataset(self, split: str, dataset: dict, pipeline: list[dict]) -> dict:
        out = super().dataset(split, dataset, pipeline)
        out['label_list'] = self._labels()
        return out

    def evaluator(self) -> dict | None:
        metric = self.doc.section('Metric', required=False)
        if not metric:
            return None
        self.doc.named(metric, 'Metric', ('ClsMetric',))
        metric = self.doc.check_keys(metric, ['name', 'main_indicator'], 'Metric')
        if metric.get('main_indicator', 'acc') != 'acc':
            raise self.doc.error('Metric.main_indicator', f"must be acc, got {metric.get('main_indicator')!r}")
        return dict(type='Accuracy', topk=1)

    def best_metric(self) -> str | None:
        return 'accuracy/top1' if self.doc.section('Metric', required=False) else None

    def inference_pipeline(self) -> list[dict]:
        return self.pipeline('Eval')

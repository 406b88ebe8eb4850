"""The per-``Architecture.model_type`` part of the translation: the :class:`PaddleOCRTaskTranslator` base class and
its registry, :data:`visioncraft.registry.PADDLE_TRANSLATORS`, which the task packages fill
(``visioncraft.tasks.textdet.paddleocr_config`` registers ``det``, ``visioncraft.tasks.textrecog`` ``rec``)."""
from __future__ import annotations

from collections.abc import Callable

from visioncraft.registry import PADDLE_TRANSLATORS

from .doc import PaddleOCRDoc

__all__ = ['PaddleOCRTaskTranslator', 'register_paddleocr_translator', 'paddleocr_translators', 'translator_for']


class PaddleOCRTaskTranslator:
    """Translates the model-type specific parts of a PaddleOCR config. Subclass it in a task package and
    register it with :func:`register_paddleocr_translator`.

    ``doc`` is the :class:`PaddleOCRDoc`. The generic translator calls :meth:`model`, :meth:`pipeline`
    (``'Train'`` / ``'Eval'``), :meth:`dataset` (per split), :meth:`evaluator`, :meth:`best_metric` and
    :meth:`visualizer`, and puts the results in the internal config.
    """

    model_type = ''

    def __init__(self, doc: PaddleOCRDoc) -> None:
        self.doc = doc

    def model(self) -> dict:
        raise NotImplementedError

    def pipeline(self, split: str) -> list[dict]:
        raise NotImplementedError

    #: PaddleOCR dataset name -> this library's dataset type (SimpleDataSet's keys are read by :meth:`dataset`)
    dataset_types: dict[str, str] = {}

    def dataset(self, split: str, dataset: dict, pipeline: list[dict]) -> dict:
        """``<split>.dataset`` -> a dataset config. The default reads PaddleOCR's ``SimpleDataSet`` (``data_dir``,
        ``label_file_list``, ``ratio_list``; ``delimiter`` must be a tab) into ``dataset_types['SimpleDataSet']``
        with ``data_dir`` / ``label_file_list`` / ``ratio_list`` / ``pipeline`` (``test_mode`` for Eval)."""
        doc, key = self.doc, f'{split}.dataset'
        doc.named(dataset, key, self.dataset_types)
        if dataset['name'] != 'SimpleDataSet':
            raise NotImplementedError(f'{type(self).__name__}.dataset: override it for {dataset["name"]}')
        dataset = doc.check_keys(dataset, ['name', 'data_dir', 'label_file_list', 'ratio_list', 'transforms',
                                           'delimiter', 'seed', 'ext_op_transform_idx'], key)
        if dataset.get('delimiter', '\t') != '\t':
            raise doc.error(f'{key}.delimiter', 'only tab-separated label files ("\\t") are supported')
        files = dataset.get('label_file_list')
        if not files:
            raise doc.error(f'{key}.label_file_list', 'is required (the PaddleOCR label files)')
        out = dict(type=self.dataset_types['SimpleDataSet'], data_dir=str(dataset.get('data_dir') or ''),
                   label_file_list=list(files) if isinstance(files, list) else [files], pipeline=pipeline)
        if dataset.get('ratio_list') is not None:
            out['ratio_list'] = dataset['ratio_list']
        if split != 'Train':
            out['test_mode'] = True
        return out

    def evaluator(self) -> dict | None:
        return None

    def best_metric(self) -> str | None:
        """The metric the best checkpoint is chosen by (``Metric.main_indicator``)."""
        return None

    def visualizer(self) -> dict:
        return dict(type='Visualizer')

    def inference_pipeline(self) -> list[dict]:
        """The Eval pipeline without the annotation loading (what ``tools/infer_*.py`` run)."""
        raise NotImplementedError

    def pass_through(self, cfg: dict, key: str) -> dict:
        """An unknown Backbone / Neck / Head name: ``dict(type=name, **the other keys)``, built by the registry
        (PaddleOCR's "add a new backbone" workflow: register the class, name it in the YAML). A dotted name
        (``my_project.my_backbone.MyBackbone``) is imported here, so no other code has to import it."""
        name = str(cfg['name'])
        if '.' in name:  # 'my_project.my_backbone.MyBackbone': import the module (from the working directory too)
            self.doc.import_module_of(name, f'{key}.name')
        return dict(type=name, **{k: v for k, v in cfg.items() if k != 'name'})

    def custom_part(self, cfg: dict, key: str, builtin: str, what: str) -> dict | None:
        """None when ``cfg`` names the built-in ``builtin`` (the translator maps it); else the registered part it
        names (:meth:`pass_through`); no name at all is an error."""
        if cfg.get('name') == builtin:
            return None
        if not cfg.get('name'):
            raise self.doc.error(key, f'needs a name ({builtin} or a registered {what})')
        return self.pass_through(cfg, key)


def register_paddleocr_translator(model_type: str, *, force: bool = False) -> Callable:
    """Class decorator: use this :class:`PaddleOCRTaskTranslator` for ``Architecture.model_type``. It registers
    the class in :data:`~visioncraft.registry.PADDLE_TRANSLATORS`, where a second class for the same model type
    is an error (:class:`~visioncraft.registry.RegistryError`) unless ``force=True``."""
    def deco(cls: type[PaddleOCRTaskTranslator]) -> type[PaddleOCRTaskTranslator]:
        PADDLE_TRANSLATORS.register_module(model_type, force=force, module=cls)
        cls.model_type = model_type
        return cls
    return deco


def paddleocr_translators() -> dict[str, type[PaddleOCRTaskTranslator]]:
    """model_type -> translator class, as registered."""
    return {name: PADDLE_TRANSLATORS.get(name) for name in PADDLE_TRANSLATORS.names()}


def translator_for(doc: PaddleOCRDoc) -> PaddleOCRTaskTranslator:
    """The registered translator of ``doc``'s ``Architecture.model_type``, made for ``doc``."""
    model_type = doc.section('Architecture').get('model_type')
    names = PADDLE_TRANSLATORS.names()
    if model_type not in names:  # the exact name: no scope prefixes ('mmocr.det') or import paths here
        known = ', '.join(names) or 'none (import visioncraft to register them)'
        raise doc.error('Architecture.model_type', f'{model_type!r} has no translator (supported: {known})')
    return PADDLE_TRANSLATORS.get(model_type)(doc)

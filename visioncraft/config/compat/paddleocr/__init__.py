"""PaddleOCR-layout YAML configs, read onto the internal config (the one ``.py`` recipes produce).

A file is a PaddleOCR config when it is a ``.yml`` / ``.yaml`` whose top level has ``Global`` and
``Architecture`` (:func:`is_paddleocr_config`). :func:`load_paddleocr_config` reads it, applies ``-o`` overrides
to the PaddleOCR keys FIRST (:func:`apply_paddleocr_overrides`: Config's own assignment routine with PaddleOCR's
rules; strict: an unknown key is an error naming the file, the key and the closest existing keys), then
translates it (:func:`translate_paddleocr`): the parts every model type shares here, the rest in a
per-``Architecture.model_type`` translator that a task package registers in
:data:`visioncraft.registry.PADDLE_TRANSLATORS` (``det``: ``visioncraft.tasks.textdet``, ``rec``:
``visioncraft.tasks.textrecog``).

One module per purpose:

* :mod:`.layout`: the sections and documented ``Global`` keys; telling a PaddleOCR YAML apart; reading it;
* :mod:`.overrides`: ``-o Section.key=value`` (:class:`~visioncraft.config.config.OverrideAssigner`, ``replace``);
* :mod:`.doc`: :class:`PaddleOCRDoc`, the strict readers that name the file and the key;
* :mod:`.expr`: the arithmetic PaddleOCR writes for numbers (``1./255.``);
* :mod:`.translator`: the per-model-type :class:`PaddleOCRTaskTranslator` and its registration;
* :mod:`.translate`: the shared translation (``Global``, loaders, hooks, visualizer);
* :mod:`.optim`: ``Optimizer`` / ``lr`` / ``regularizer`` / AMP -> ``optim_wrapper``, ``param_scheduler``;
* :mod:`.checkpoints`: ``Global.checkpoints`` / ``pretrained_model`` -> ``load_from``, ``resume``;
* :mod:`.load`: :func:`load_paddleocr_config` (read, override, translate), :func:`translate_loaded` (what
  :meth:`Config.fromfile <visioncraft.config.Config.fromfile>` runs on a PaddleOCR-layout YAML).

The result is a :class:`~visioncraft.config.Config` with ``model``, ``train_dataloader``, ``val_dataloader``,
``test_dataloader``, ``val_evaluator``, ``test_evaluator``, ``optim_wrapper``, ``param_scheduler``,
``train_cfg``, ``val_cfg``, ``test_cfg``, ``default_hooks``, ``custom_hooks``, ``visualizer``, ``work_dir``,
``load_from``, ``resume``, ``randomness``, plus ``paddleocr``: the PaddleOCR run settings the tools read
(``use_gpu``, ``infer_img``, ``save_res_path``, ``save_inference_dir``, ``checkpoints``, ``pretrained_model``,
``model_type``, ``algorithm``). docs/paddleocr.md lists every key and how it maps.

This package imports neither ``visioncraft.engine`` nor ``visioncraft.tasks``.
"""
from .checkpoints import find_checkpoint, resolve_checkpoint
from .doc import PaddleOCRDoc
from .expr import parse_number_expr
from .layout import GLOBAL_KEYS, is_paddleocr_config, is_paddleocr_layout, load_paddleocr_yaml
from .load import load_paddleocr_config, translate_loaded
from .overrides import apply_paddleocr_overrides
from .translate import DATASET_ALIASES, VAL_HOOK_TYPE, translate_paddleocr
from .translator import PaddleOCRTaskTranslator, paddleocr_translators, register_paddleocr_translator

__all__ = ['is_paddleocr_config', 'is_paddleocr_layout', 'load_paddleocr_yaml', 'apply_paddleocr_overrides',
           'translate_paddleocr', 'load_paddleocr_config', 'translate_loaded', 'register_paddleocr_translator',
           'paddleocr_translators', 'PaddleOCRDoc', 'PaddleOCRTaskTranslator', 'find_checkpoint', 'resolve_checkpoint',
           'parse_number_expr', 'GLOBAL_KEYS', 'VAL_HOOK_TYPE', 'DATASET_ALIASES']

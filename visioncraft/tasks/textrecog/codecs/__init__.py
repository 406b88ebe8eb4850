"""Text-recognition codecs: the :class:`Dictionary` of characters and the :class:`CTCCodec` that encodes
training targets and decodes predictions."""
from .attention import AttentionCodec
from .ctc import CTCCodec, ctc_best_alignment, ctc_greedy_path, ctc_prefix_beam_search
from .dictionary import BUILTIN_DICTS, Dictionary, builtin_dict_path, read_dict_file

__all__ = ['BUILTIN_DICTS', 'CTCCodec', 'Dictionary', 'builtin_dict_path', 'ctc_best_alignment', 'ctc_greedy_path',
           'ctc_prefix_beam_search', 'read_dict_file']
__all__ += ['AttentionCodec']

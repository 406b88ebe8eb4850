"""VisionCraft: train, test, run and export computer-vision models from config files.

Importing the package fills every registry with the built-in classes, so a built-in ``type`` can
never be "not in the registry".
"""
__version__ = '0.1.0'

from . import registry  # noqa: E402
from .errors import UserError  # noqa: E402
from . import structures  # noqa: E402,F401
from . import data  # noqa: E402,F401
from . import evaluation  # noqa: E402,F401
from .evaluation import metrics as _metrics  # noqa: E402,F401
from . import visualization  # noqa: E402,F401
from . import models  # noqa: E402,F401
from . import engine  # noqa: E402,F401
from .data import loading as _loading  # noqa: E402,F401
from .data.synthetic import shapes as _shapes  # noqa: E402,F401
from .tasks import detection as _detection  # noqa: E402,F401
from .tasks import textdet as _textdet  # noqa: E402,F401
from .tasks import textrecog as _textrecog  # noqa: E402,F401
from .tasks import pose as _pose  # noqa: E402,F401
from . import apis  # noqa: E402,F401  (inference API; registers LoadImageFromNDArray)

__all__ = ['__version__', 'registry', 'UserError']

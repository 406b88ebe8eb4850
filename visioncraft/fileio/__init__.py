"""File input and output shared by every layer: checkpoints (atomic writes, weights-only loading, the URL cache,
the work dir's ``last_checkpoint`` pointer), reading images (:mod:`.image`) and finding the files shipped with the
package (configs; :mod:`.package_data`). Imports nothing of VisionCraft above it."""
from .checkpoint import *  # noqa: F401,F403
from .checkpoint import __all__ as _checkpoint_all
from .image import (ImageInput, imdecode, imread, imwrite, max_image_pixels, read_image, set_max_image_pixels,
                    unreadable_image_reason)
from .package_data import find_package_file, package_data_roots

__all__ = [*_checkpoint_all, 'ImageInput', 'imread', 'imdecode', 'imwrite', 'read_image', 'unreadable_image_reason',
           'max_image_pixels', 'set_max_image_pixels', 'find_package_file', 'package_data_roots']

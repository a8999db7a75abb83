"""hf-unlearn: make a Hugging Face image classifier forget chosen training data, and show it.

The public API is loaded lazily (as in TRL and diffusers): `import hf_unlearn` is instant, and
`from hf_unlearn import UnlearningTrainer` imports the trainer and what it needs, nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .constants import __version__
from .lazy import lazy_names

#: Public name -> module that defines it.
_LAZY = {"UnlearningConfig": "config", "ForgetSet": "forget", "ForgetSetError": "errors",
         "UnlearningResult": "output", "UnlearningTrainer": "trainer", "prepare_generator": "gan.preparation",
         "load_preparation": "gan.preparation"}

__all__ = ["ForgetSet", "ForgetSetError", "UnlearningConfig", "UnlearningResult", "UnlearningTrainer", "__version__",
           "load_preparation", "prepare_generator"]

if TYPE_CHECKING:
    from .config import UnlearningConfig
    from .errors import ForgetSetError
    from .forget import ForgetSet
    from .gan.preparation import load_preparation, prepare_generator
    from .output import UnlearningResult
    from .trainer import UnlearningTrainer


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals(), __all__)

"""hf-unlearn: make a Hugging Face image classifier forget chosen training data, and show it.

The public API is loaded lazily (as in TRL and diffusers): `import hf_unlearn` is instant, and
`from hf_unlearn import UnlearningTrainer` imports the trainer and what it needs, nothing more.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .constants import __version__

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

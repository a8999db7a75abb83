"""hf-unlearn: make a Hugging Face image classifier forget chosen training data, and show it."""

from .config import UnlearningConfig
from .forget import ForgetSet, ForgetSetError
from .trainer import UnlearningResult, UnlearningTrainer

__version__ = "0.1.0"
__all__ = ["ForgetSet", "ForgetSetError", "UnlearningConfig", "UnlearningResult", "UnlearningTrainer", "__version__"]

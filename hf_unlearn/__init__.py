"""hf-unlearn: make a Hugging Face image classifier forget chosen training data, and show it."""

__version__ = "0.1.0"  # before the imports: modules (the model card) read it while the package loads

from .config import UnlearningConfig  # noqa: E402
from .forget import ForgetSet, ForgetSetError  # noqa: E402
from .trainer import UnlearningResult, UnlearningTrainer  # noqa: E402

__all__ = ["ForgetSet", "ForgetSetError", "UnlearningConfig", "UnlearningResult", "UnlearningTrainer", "__version__"]

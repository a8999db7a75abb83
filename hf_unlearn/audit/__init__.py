"""Privacy audit: every attack tier against saved models on one forget set (`run.py`), with reference
models trained on random halves of a data pool for LiRA and RMIA (`reference_models.py`). The attacks
themselves are in `hf_unlearn.mia`; the command is `hf_unlearn.commands.audit`."""

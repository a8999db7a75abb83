"""The harness around the library: what the `hf-unlearn` subcommands run. Nothing in the library imports it.

- `arguments.py`: recipe and command-line arguments shared by run / benchmark / audit (YAML + overrides).
- `run.py`: `hf-unlearn run` (unlearn a trained model, or benchmark mode: original, retrained, unlearned).
- `experiment.py`: one comparison (original, retrained reference, unlearned), used by run and quickstart.
- `quickstart.py`: `hf-unlearn quickstart` on scikit-learn's digits.
- `benchmark.py`, `benchmark_report.py`: `hf-unlearn benchmark` (seeds x settings x methods) and its report.
- `audit.py`: `hf-unlearn audit` (every attack tier against saved models).
- `publish.py`: `hf-unlearn card` and `hf-unlearn push`.
"""

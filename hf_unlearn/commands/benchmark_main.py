"""`hf-unlearn benchmark RECIPE.yaml`: the methods benchmark (`benchmark.py`: forget settings x methods x seeds),
or, when the recipe has `persons:`, the person-level one (`benchmark_persons.py`)."""

from __future__ import annotations

from typing import Any

from ..config import UnlearningConfig
from .benchmark_plan import BenchmarkArguments

__all__ = ["BenchmarkArguments", "run_benchmark"]


def run_benchmark(args: BenchmarkArguments, base: UnlearningConfig) -> dict[str, Any]:
    """Run (or resume) the recipe's benchmark and write its JSON and Markdown report."""
    if args.persons and args.dry_run:  # refused before any data is read
        from ..errors import UsageError

        raise UsageError("--dry_run lists the runs of a forget_settings benchmark; a persons benchmark keeps its "
                         "own run folders (benchmark_persons.py) and has no dry run yet: drop --dry_run.")
    if not args.persons:
        from .benchmark import run_benchmark as run_methods

        return run_methods(args, base)
    from .benchmark_persons import PersonBenchmark
    from .benchmark_persons_report import write_person_report

    summary = PersonBenchmark(args, base).execute()
    if base.should_save:
        write_person_report(summary, args)
    return summary

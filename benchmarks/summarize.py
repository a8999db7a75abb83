"""Print a Markdown table from `unlearning_results.json` files: original, retrained reference, each run.

    python benchmarks/summarize.py outputs/cifar10-resnet10-cpu/variants/*/

"Gap" is the mean absolute difference to the retrained reference over forget, retain and test accuracy and
the MIA score x 100, in points (like SalUn's Avg Gap, but with the challenge-kit MIA score in place of
MIA-efficacy); "request s" is the per-request wall time: data reorganization (forget GAN, synthesis, and the
retain GAN unless it was reused) plus fine-tuning.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KEYS = ("forget_accuracy", "retain_accuracy", "test_accuracy")


def gap(m: dict, ref: dict) -> float:
    """Mean |difference| to the reference over the three accuracies and 100 x MIA score."""
    diffs = [abs(m[k] - ref[k]) for k in KEYS] + [100.0 * abs(m["mia_score"] - ref["mia_score"])]
    return sum(diffs) / len(diffs)


def row(name: str, m: dict, ref: dict | None, seconds: float | None) -> str:
    cells = [f"{m[k]:.2f}" for k in KEYS] + [f"{m['mia_score']:.3f}", f"{gap(m, ref) if ref else float('nan'):.2f}",
                                              "" if seconds is None else f"{seconds:.0f}"]
    return f"| {name} | " + " | ".join(cells) + " |"


def main(paths: list[str]) -> None:
    results = []
    for p in map(Path, paths):
        if not (p / "unlearning_results.json").is_file():
            print(f"skipped {p}: no unlearning_results.json (unfinished run?)", file=sys.stderr)
            continue
        results.append((p, json.loads((p / "unlearning_results.json").read_text())))
    print("| model | forget acc | retain acc | test acc | MIA | Gap | request s |")
    print("|---|---|---|---|---|---|---|")
    first = results[0][1]["metrics"]
    ref = first.get("retrained")
    print(row("original (do nothing)", first["original"], ref, None))
    if ref:
        print(row("retrained (reference)", ref, ref, None))
    for path, result in results:
        t = result["timings"]
        print(row(path.name, result["metrics"]["unlearned"], ref, t["data_reorganization"] + t["fine_tuning"]))


if __name__ == "__main__":
    main(sys.argv[1:])

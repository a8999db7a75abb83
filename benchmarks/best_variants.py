"""Best variant of each method in a tuning run (lowest Avg Gap on the validation split), as a Markdown table.

    python benchmarks/best_variants.py benchmarks/results/cifar10-resnet10-cpu-tuning.json

For `multigan` it also names the best variant that uses GAN data (num_synthetic_* > 0), since the best
overall may be plain label inversion.
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    summary = json.load(open(path))
    runs = [r for r in summary["records"] if r["request"] == "first" and r["name"] not in ("original", "retrained")]
    print("| method | variants tried | best variant (validation) | Avg Gap | runner-up | Avg Gap |")
    print("|---|---|---|---|---|---|")
    groups: dict[str, list[dict]] = {}
    for record in runs:
        groups.setdefault(record["method"], []).append(record)
        if record["method"] == "multigan":
            spec = summary["methods"][record["name"]]
            if spec.get("num_synthetic_retain", 1) or spec.get("num_synthetic_forget", 1):
                groups.setdefault("multigan (with GAN data)", []).append(record)
    for method, records in groups.items():
        ranked = sorted(records, key=lambda r: r["metrics"]["avg_gap"])
        second = ranked[1] if len(ranked) > 1 else None
        print(f"| {method} | {len(records)} | `{ranked[0]['name']}` | {ranked[0]['metrics']['avg_gap']:.2f} | "
              + (f"`{second['name']}` | {second['metrics']['avg_gap']:.2f} |" if second else "| |"))
    for name in ("original", "retrained"):
        ref = next(r for r in summary["records"] if r["name"] == name)
        print(f"\n{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in ref["metrics"].items()
                                       if k in ("forget_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy", "avg_gap")))


if __name__ == "__main__":
    main(sys.argv[1])

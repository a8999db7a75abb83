"""Best variant of each method in a tuning run (lowest Avg Gap on the validation split), per forget setting, as
a Markdown table, followed by the per-setting `methods:` blocks to paste into the benchmark recipe.

    python benchmarks/best_variants.py benchmarks/results/cifar10-resnet10-64px-cpu-tuning.json

For `multigan` it also names the best variant that uses GAN data (num_synthetic_* > 0), since the best
overall may be plain label inversion. Ties keep the variant listed first in the recipe.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def uses_gan_data(spec: dict[str, Any]) -> bool:
    """Whether a Multi-GAN variant fine-tunes on synthetic rows (its counts in method_args, or top-level as
    recipes wrote them before the options moved)."""
    args = spec.get("method_args") or {}
    counts = [args.get(name, spec.get(name, 1)) for name in ("num_synthetic_retain", "num_synthetic_forget")]
    return bool(any(counts))


def best_per_setting(summary: dict[str, Any]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """setting -> method (and "multigan (with GAN data)") -> its first-request records, best first."""
    order = list(summary["methods"])
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for record in summary["records"]:
        if record["request"] != "first" or record["name"] in ("original", "retrained"):
            continue
        groups = out.setdefault(record["setting"], {})
        base = record["name"].split("[")[0]  # a named variant (e.g. multigan_prepared) is its own group
        groups.setdefault(base, []).append(record)
        if base == "multigan" and uses_gan_data(summary["methods"][record["name"]]):
            groups.setdefault("multigan (with GAN data)", []).append(record)
    for groups in out.values():
        for records in groups.values():
            records.sort(key=lambda r: (r["metrics"]["avg_gap"], order.index(r["name"])))
    return out


def main(path: str) -> None:
    summary = json.load(open(path))
    best = best_per_setting(summary)
    for setting, groups in best.items():
        print(f"\n#### {setting}\n")
        print("| method | variants tried | best variant (validation) | Avg Gap | runner-up | Avg Gap |")
        print("|---|---|---|---|---|---|")
        for method, records in groups.items():
            first, second = records[0], records[1] if len(records) > 1 else None
            print(f"| {method} | {len(records)} | `{first['name']}` | {first['metrics']['avg_gap']:.2f} | "
                  + (f"`{second['name']}` | {second['metrics']['avg_gap']:.2f} |" if second else "| |"))
        for name in ("original", "retrained"):
            ref = next(r for r in summary["records"] if r["name"] == name and r["setting"] == setting)
            print(f"\n{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in ref["metrics"].items() if k in (
                "forget_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy", "avg_gap")))
    print("\n# per-setting method settings for the benchmark recipe (forget_settings.<setting>.methods):")
    for setting, groups in best.items():
        print(f"  {setting}:\n    methods:")
        for method, records in groups.items():
            if "(" not in method:
                spec = {k: v for k, v in summary["methods"][records[0]["name"]].items() if k != "method"}
                print(f"      {method}: {json.dumps(spec)}")


if __name__ == "__main__":
    main(sys.argv[1])

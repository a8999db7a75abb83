"""Two unlearning variants side by side in one privacy audit, seed by seed: each attack's AUC on the forget set
with its 95% bootstrap interval, whether the second variant's AUC lies inside the first's interval, and the
mean AUC difference over seeds with its paired 95% t-interval (`paired_interval`, as the benchmark's Avg Gap).

Models are named `<variant>_s<seed>` in the audit recipe (e.g. recipes/cifar10-resnet10-64px-cpu/audit-prepared.yaml):

    python benchmarks/compare_audits.py benchmarks/results/audit-cifar10-resnet10-64px-cpu/audit_report.json \
        multigan multigan_prepared
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from hf_unlearn.commands.benchmark_report import paired_interval

ATTACKS = ("loss", "lira_offline", "lira_online", "rmia_offline", "rmia_online")


def by_seed(report: dict[str, Any], variant: str) -> dict[int, dict[str, Any]]:
    """seed -> that model's attack results, for the models named `<variant>_s<seed>`."""
    pattern = re.compile(re.escape(variant) + r"_s(\d+)$")
    return {int(m.group(1)): result for name, result in report["models"].items() if (m := pattern.match(name))}


def compare(report: dict[str, Any], first: str, second: str) -> list[str]:
    a, b = by_seed(report, first), by_seed(report, second)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise SystemExit(f"no seed audited for both {first} and {second} (models named <variant>_s<seed>)")
    lines = [f"| attack | seed | {first} AUC [95% CI] | {second} AUC [95% CI] | {second} inside {first}'s CI |",
             "|---|---|---|---|---|"]
    summary = []
    for attack in ATTACKS:
        diffs = []
        for seed in seeds:
            x, y = a[seed][attack]["auc"], b[seed][attack]["auc"]
            inside = x["low"] <= y["value"] <= x["high"]
            lines.append(f"| {attack} | {seed} | {x['value']:.3f} [{x['low']:.3f}, {x['high']:.3f}] | "
                         f"{y['value']:.3f} [{y['low']:.3f}, {y['high']:.3f}] | {'yes' if inside else 'no'} |")
            diffs.append(y["value"] - x["value"])
        interval = paired_interval(diffs)
        ci = (f"[{interval['low']:+.3f}, {interval['high']:+.3f}]" if interval.get("low") is not None else "(no interval)")
        summary.append(f"| {attack} | {interval['mean']:+.3f} {ci} | {len(diffs)} |")
    return lines + ["", f"Mean AUC difference ({second} - {first}) over seeds [paired 95% t-interval]:", "",
                    "| attack | mean diff [95% CI] | seeds |", "|---|---|---|"] + summary


def main(argv: list[str]) -> None:
    path = argv[0]
    first, second = (argv[1], argv[2]) if len(argv) > 2 else ("multigan", "multigan_prepared")
    with open(path) as f:
        print("\n".join(compare(json.load(f), first, second)))


if __name__ == "__main__":
    main(sys.argv[1:])

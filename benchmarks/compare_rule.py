"""Every method with and without a stopping rule, paired by seed, from an `hf-unlearn benchmark` JSON report whose
recipe ran each variant also as `<name>_<suffix>` (`variants_with`, e.g. benchmark-stop.yaml):

    python benchmarks/compare_rule.py benchmarks/results/cifar10-resnet10-64px-cpu-stop.json [--suffix stop]

Prints a Markdown table: per method, mean Avg Gap without and with the rule, their paired difference (with -
without) and its 95% t-interval over seeds, the rule's verdict, the steps kept out of the budget, how often the
rule's targets were met, the checks' seconds against a retrain, and the change in request time (with - without).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

from hf_unlearn.commands.benchmark_report import paired_interval


def compare(report: dict, suffix: str, setting: str | None = None, request: str = "first") -> list[str]:
    runs: dict[str, dict[int, dict]] = defaultdict(dict)
    for r in report["records"]:
        if r["request"] == request and (setting is None or r["setting"] == setting):
            runs[r["name"]][r["seed"]] = r
    lines = ["| method | Avg Gap without | Avg Gap with | with - without [95% CI] | verdict | kept step / budget "
             "| targets met | checks s (x retrain) | request s with - without |", "|---|---|---|---|---|---|---|---|---|"]
    tail = f"_{suffix}"
    for name in sorted(n for n in runs if f"{n}{tail}" in runs):
        base, rule = runs[name], runs[f"{name}{tail}"]
        seeds = sorted(set(base) & set(rule))
        if not seeds:
            continue
        gaps = [(base[s]["metrics"]["avg_gap"], rule[s]["metrics"]["avg_gap"]) for s in seeds]
        diff = paired_interval([w - wo for wo, w in gaps])
        low, high = diff["low"], diff["high"]
        verdict = ("identical" if all(w == wo for wo, w in gaps) else "n = 1" if low is None else
                   "rule lower" if high < 0 else "rule higher" if low > 0 else "within noise")
        stops = [rule[s].get("stopping") or {} for s in seeds]
        kept = ", ".join(f"{st.get('kept_step')}/{st.get('budget_steps')}" for st in stops)
        met = sum(bool(st.get("matched")) for st in stops)
        check_ratio = np.mean([st.get("check_seconds", 0.0) / rule[s]["retrain_s"] for st, s in zip(stops, seeds,
                                                                                                    strict=True)])
        checks = np.mean([st.get("check_seconds", 0.0) for st in stops])
        dt = np.mean([rule[s]["metrics"]["request_s"] - base[s]["metrics"]["request_s"] for s in seeds])
        interval = f"{diff['mean']:+.2f}" + ("" if low is None else f" [{low:+.2f}, {high:+.2f}]")
        lines.append(f"| {name} | {np.mean([g[0] for g in gaps]):.2f} | {np.mean([g[1] for g in gaps]):.2f} | "
                     f"{interval} | {verdict} | {kept} | {met}/{len(seeds)} | {checks:.1f} ({check_ratio:.3f}) | "
                     f"{dt:+.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--suffix", default="stop")
    parser.add_argument("--setting", default=None)
    parser.add_argument("--request", default="first")
    args = parser.parse_args()
    with open(args.report) as f:
        report = json.load(f)
    print("\n".join(compare(report, args.suffix, args.setting, args.request)))


if __name__ == "__main__":
    main()

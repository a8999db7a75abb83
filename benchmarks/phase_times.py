"""Mean wall time of each phase per method in a benchmark JSON (seconds, over seeds), as a Markdown table.

    python benchmarks/phase_times.py benchmarks/results/cifar10-resnet10-cpu.json [setting]

Phases nest: `data_reorganization` contains `gan_retain`, `gan_forget` and `synthesis`; `gan_retain` is
one-time preparation (trained once per retain set and reused), the rest is paid by each request.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np

PHASES = ("gan_retain", "gan_forget", "synthesis", "data_reorganization", "saliency_mask", "fine_tuning")


def main(path: str, setting: str | None = None) -> None:
    summary = json.load(open(path))
    setting = setting or next(iter(summary["settings"]))
    rows: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for record in summary["records"]:
        if record["setting"] == setting and record["name"] != "original":
            rows[(record["request"], record["name"])].append(record)
    print(f"Setting `{setting}`, mean over seeds (s):\n")
    print("| request | method | " + " | ".join(PHASES) + " | request s | retrain s | x retrain |")
    print("|---|---|" + "---|" * (len(PHASES) + 3))
    for (request, name), records in rows.items():
        cells = [f"{np.mean([r['timings'].get(p, 0.0) for r in records]):.1f}" for p in PHASES]
        request_s = np.mean([r["metrics"]["request_s"] for r in records])
        retrain_s = np.mean([r["retrain_s"] for r in records])
        ratio = np.mean([r["metrics"]["time_ratio"] for r in records])
        print(f"| {request} | {name} | " + " | ".join(cells) + f" | {request_s:.1f} | {retrain_s:.1f} | {ratio:.3f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Compare two `hf-unlearn benchmark` JSON reports record by record: the same seed must give the same numbers.

    python benchmarks/compare_records.py BEFORE/smoke.json AFTER/smoke.json

Every (seed, setting, request, run) must be in both, with identical metrics (wall-time columns excepted).
Exit code 1 and one line per difference otherwise.
"""

from __future__ import annotations

import json
import sys

TIME_KEYS = {"request_s", "time_ratio", "retrain_s", "train_s", "one_time_s"}  # wall times


def records(path: str) -> dict[tuple, dict[str, float]]:
    with open(path) as f:
        report = json.load(f)
    return {(r["seed"], r["setting"], r["request"], r["name"]): {k: v for k, v in r["metrics"].items()
                                                                   if k not in TIME_KEYS} for r in report["records"]}


def main(before: str, after: str) -> int:
    a, b = records(before), records(after)
    problems = [f"only in {before}: {k}" for k in sorted(set(a) - set(b), key=str)]
    problems += [f"only in {after}: {k}" for k in sorted(set(b) - set(a), key=str)]
    for key in sorted(set(a) & set(b), key=str):
        changed = {m: (a[key].get(m), b[key].get(m)) for m in set(a[key]) | set(b[key]) if a[key].get(m) != b[key].get(m)}
        if changed:
            problems.append(f"{key}: {changed}")
    print("\n".join(problems) or f"{len(a)} records, identical metrics")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))

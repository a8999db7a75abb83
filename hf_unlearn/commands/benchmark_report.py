"""The benchmark's report: mean ± std over seeds per request, forget setting and method, as a Markdown table,
paired differences of Avg Gap between methods (same seeds, 95% t-intervals), a plot (Avg Gap vs per-request
time as a share of retraining) and a section of the Markdown page `benchmarks_md` names (e.g.
docs/benchmarks/methods.md)."""

from __future__ import annotations

import itertools
import math
import os
from typing import Any

import numpy as np

from ..safety import write_text_atomic

#: Metrics aggregated over seeds, in table order (key, column title, decimals).
REPORT_COLUMNS = (("forget_accuracy", "forget acc", 2), ("retain_accuracy", "retain acc", 2),
                  ("test_accuracy", "test acc", 2), ("mia_score", "MIA (kit)", 3), ("mia_efficacy", "MIA-eff", 2),
                  ("avg_gap", "Avg Gap", 2), ("gap_share", "x do-nothing", 3), ("x_finetune", "x FT", 2),
                  ("x_salun", "x SalUn", 2), ("request_s", "request s", 1), ("time_ratio", "x retrain", 3),
                  ("one_time_s", "one-time s", 1))
#: Avg Gap ratios a record gets (`add_ratios`): metric -> the run of the same seed, setting and request it is
#: divided by. Absolute gaps do not transfer between harnesses; a share of doing nothing and a ratio to same-run
#: fine-tuning and SalUn do (papers report those baselines too).
RATIOS = {"gap_share": "original", "x_finetune": "finetune", "x_salun": "salun"}


def add_ratios(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`records` with each one's Avg Gap also as a ratio to the Avg Gap of the runs `RATIOS` names, in the same
    seed, setting and request (none where that run is missing or its gap is 0): per seed, so that the mean and
    spread over seeds are of the ratio itself."""
    gaps = {(r["request"], r["setting"], r["seed"], r["name"]): r["metrics"].get("avg_gap") for r in records}
    out = []
    for record in records:
        metrics = dict(record["metrics"])
        if record["name"] != "retrained" and metrics.get("avg_gap") is not None:
            for metric, name in RATIOS.items():
                base = gaps.get((record["request"], record["setting"], record["seed"], name))
                if base:
                    metrics[metric] = metrics["avg_gap"] / base
        out.append({**record, "metrics": metrics})
    return out


def aggregate(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """request -> setting -> run name -> metric -> {mean, std, n} over seeds."""
    out: dict[str, Any] = {}
    for record in records:
        out.setdefault(record["request"], {}).setdefault(record["setting"], {}).setdefault(record["name"], []).append(
            record["metrics"])
    for request in out.values():
        for setting in request.values():
            for name, runs in setting.items():
                setting[name] = {k: {"mean": float(np.mean([r[k] for r in runs])),
                                     "std": float(np.std([r[k] for r in runs], ddof=1)) if len(runs) > 1 else 0.0,
                                     "n": len(runs)}
                                 for k in runs[0] if all(k in r for r in runs)}
    return out


def paired_interval(differences: list[float]) -> dict[str, Any]:
    """Mean of paired differences and its 95% t-interval (low, high: None for a single pair), and `detectable`:
    the smallest true mean difference this many pairs with this spread detect (a two-sided 5% paired t-test
    with 80% power, (t_0.975 + t_0.80) x sd / sqrt(n)): what "within noise" could have missed."""
    from scipy.stats import t

    n, mean = len(differences), float(np.mean(differences))
    if n < 2:
        return {"n": n, "mean": mean, "low": None, "high": None, "detectable": None}
    error = float(np.std(differences, ddof=1) / math.sqrt(n))
    half = float(t.ppf(0.975, n - 1)) * error
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half,
            "detectable": (float(t.ppf(0.975, n - 1)) + float(t.ppf(0.80, n - 1))) * error}


def paired_differences(records: list[dict[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """request -> setting -> one entry per pair of runs (every name but "retrained"; "original" included):
    {a, b, n, mean, low, high}, the Avg Gap of `a` minus that of `b` over the seeds both have, paired by seed."""
    gaps: dict[str, Any] = {}
    for record in records:
        if record["name"] != "retrained":
            gaps.setdefault(record["request"], {}).setdefault(record["setting"], {}).setdefault(
                record["name"], {})[record["seed"]] = record["metrics"]["avg_gap"]
    out: dict[str, Any] = {}
    for request, settings in gaps.items():
        for setting, runs in settings.items():
            pairs = out.setdefault(request, {}).setdefault(setting, [])
            for a, b in itertools.combinations(sorted(runs), 2):
                seeds = sorted(set(runs[a]) & set(runs[b]))
                if seeds:
                    pairs.append({"a": a, "b": b, **paired_interval([runs[a][s] - runs[b][s] for s in seeds])})
    return out


def versus(pairs: list[dict[str, Any]], a: str, b: str) -> dict[str, Any] | None:
    """The paired difference `a` - `b` from `paired_differences`' pairs (turned around when stored as b - a)."""
    for pair in pairs:
        if (pair["a"], pair["b"]) == (a, b):
            return pair
        if (pair["a"], pair["b"]) == (b, a):
            flip = {k: None if pair[k] is None else -pair[k] for k in ("mean", "high", "low")}
            return {"a": a, "b": b, "n": pair["n"], "mean": flip["mean"], "low": flip["high"], "high": flip["low"],
                    "detectable": pair.get("detectable")}
    return None


def scored_runs(runs: dict[str, Any]) -> list[str]:
    """The runs with an Avg Gap, but the retrained reference (whose Avg Gap is 0 by definition)."""
    return [n for n in runs if n != "retrained" and "avg_gap" in runs[n]]


def lowest_run(runs: dict[str, Any]) -> str | None:
    """The run with the lowest mean Avg Gap (the first listed on a tie), or None."""
    return min(scored_runs(runs), key=lambda n: runs[n]["avg_gap"]["mean"], default=None)


def interval_text(diff: dict[str, Any]) -> str:
    """A paired difference with its 95% interval, e.g. `+1.90 [+0.51, +3.29]`."""
    return f"{diff['mean']:+.2f} [{diff['low']:+.2f}, {diff['high']:+.2f}]"


def format_paired(runs: dict[str, Any], pairs: list[dict[str, Any]]) -> list[str]:
    """Markdown under a table: the run with the lowest mean Avg Gap, whether its paired 95% interval against
    each other run excludes 0, and a table of the differences (other - best)."""
    names = scored_runs(runs)
    if len(names) < 2:
        return []
    best = lowest_run(runs)
    rows, ties, untested = [], [], []
    for other in sorted((n for n in names if n != best), key=lambda n: runs[n]["avg_gap"]["mean"]):
        diff = versus(pairs, other, best) or {"n": 0, "mean": None, "low": None}
        if diff["mean"] is None:
            text = "no seed in common"
        elif diff["low"] is None:
            text = f"{diff['mean']:+.2f}, no interval"
        else:
            text = interval_text(diff)
        rows.append(f"| {other} | {text} | {diff['n']} |")
        if diff["low"] is None:
            untested.append(f"{other} (n={diff['n']})")
        elif diff["low"] <= 0 <= diff["high"]:
            ties.append(f"{other} ({text})")
    if ties:
        verdict = ["within noise of: " + ", ".join(ties)]
    elif len(untested) < len(rows):
        verdict = ["lowest: its paired 95% interval excludes 0 against every other method"
                   + (" with an interval" if untested else "")]
    else:
        verdict = []
    if untested:
        verdict.append("no paired interval (fewer than 2 seeds in common) against: " + ", ".join(untested))
    return [f"Lowest mean Avg Gap: **{best}** — {'; '.join(verdict)}.", "",
            f"Best ({best}) vs each other method: mean diff of Avg Gap (other - {best}) [95% CI], n (paired by seed):",
            "", "| method | mean diff [95% CI] | n |", "|---|---|---|", *rows, ""]


def format_versus(runs: dict[str, Any], pairs: list[dict[str, Any]], focus: str) -> list[str]:
    """Markdown: `focus` against every other run (but the retrained reference), paired by seed: the mean
    difference of Avg Gap (other - focus) with its 95% interval and what it says: "focus lower" or "focus
    higher" when the interval excludes 0, "within noise" when it holds 0, "no interval" below 2 seeds."""
    if focus not in runs or "avg_gap" not in runs[focus]:
        return []
    rows = []
    for other in sorted((n for n in scored_runs(runs) if n != focus), key=lambda n: runs[n]["avg_gap"]["mean"]):
        diff = versus(pairs, other, focus)
        if diff is None:
            continue
        if diff["low"] is None:
            rows.append(f"| {other} | {diff['mean']:+.2f} | {diff['n']} | no interval |")
            continue
        verdict = ("within noise" if diff["low"] <= 0 <= diff["high"]
                   else f"{focus} lower" if diff["low"] > 0 else f"{focus} higher")
        if verdict == "within noise" and diff.get("detectable") is not None:
            verdict += f" (detectable: {diff['detectable']:.2f})"
        rows.append(f"| {other} | {interval_text(diff)} | {diff['n']} | {verdict} |")
    if not rows:
        return []
    return [f"{focus} vs each other method: mean diff of Avg Gap (other - {focus}) [95% CI], paired by seed (within "
            "noise: the smallest difference these pairs would detect, 80% power):", "",
            "| method | mean diff [95% CI] | n | verdict |", "|---|---|---|---|", *rows, ""]


#: The quality figure's columns (`quality.synthetic_quality`): (source, measure, heading).
QUALITY_COLUMNS = (("synthetic_retain", "kid", "synth. retain KID"), ("synthetic_retain", "precision", "precision"),
                   ("synthetic_retain", "recall", "recall"), ("synthetic_forget", "kid", "synth. forget KID"),
                   ("synthetic_forget", "precision", "precision"), ("synthetic_forget", "recall", "recall"),
                   ("real_retain", "kid", "real retain KID (reference)"), ("noise", "kid", "noise KID (reference)"))


def quality_metrics(synthetic: dict[str, Any] | None) -> dict[str, float]:
    """A run's quality figure as flat metrics (`quality_<source>_<measure>`), averaged over seeds like the rest."""
    sources = (synthetic or {}).get("sources") or {}
    return {f"quality_{source}_{measure}": float(sources[source][measure])
            for source, measure, _ in QUALITY_COLUMNS if measure in sources.get(source, {})}


def format_quality(runs: dict[str, Any]) -> list[str]:
    """The table of the synthetic images' quality figure, for the runs that fine-tuned on synthetic rows."""
    names = [n for n in runs if any(k.startswith("quality_") for k in runs[n])]
    if not names:
        return []
    lines = ["Synthetic images, in the original model's feature space (KID: lower is closer; precision / recall: "
             "shares, higher is better; mean over seeds):", "",
             "| method | " + " | ".join(h for _, _, h in QUALITY_COLUMNS) + " |", "|---|" + "---|" * len(QUALITY_COLUMNS)]
    for name in names:
        cells = [runs[name].get(f"quality_{source}_{measure}") for source, measure, _ in QUALITY_COLUMNS]
        lines.append(f"| {name} | " + " | ".join("n/a" if c is None else f"{c['mean']:.3f}" for c in cells) + " |")
    return [*lines, ""]


def format_report(summary: dict[str, Any], title: str, focus: list[str] | tuple[str, ...] = ()) -> str:
    """The Markdown report: one table per request and forget setting, mean ± std over seeds, the lowest mean
    Avg Gap against every other run, and each run named in `focus` against every other run."""
    seeds = summary.get("seeds_by_setting") or {}
    if len({tuple(s) for s in seeds.values()}) > 1:
        seeds_text = "; ".join(f"{setting} {s}" for setting, s in seeds.items())
    else:
        seeds_text = str(next(iter(seeds.values()), summary["seeds"]))
    paired = summary.get("paired") or paired_differences(summary["records"])
    lines = [f"Command: `{summary['command']}`", "",
             f"Seeds: {seeds_text}; total wall time of the run that wrote this: {summary['wall_s'] / 60:.1f} min "
             "(runs resumed from disk count as 0). Mean ± sample std over seeds.", ""]
    if summary["data"].get("validation_samples"):
        lines += [f"**Validation split**: `test acc` and both MIAs use {summary['data']['validation_samples']} training "
                  "rows after `max_train_samples` (never trained on), not the test split.", ""]
    for request, settings in summary["aggregate"].items():
        for setting, runs in settings.items():
            heading = f"{title}: {setting}" + (" (second, sequential request)" if request == "second" else "")
            columns = [c for c in REPORT_COLUMNS if any(c[0] in runs[n] for n in runs)]  # a ratio needs its run
            lines += [f"#### {heading}", "", "| method | " + " | ".join(c for _, c, _ in columns) + " |",
                      "|---|" + "---|" * len(columns)]
            order = sorted(runs, key=lambda n: (n not in ("original", "retrained"), n != "original",
                                                runs[n].get("avg_gap", {}).get("mean", 0.0)))
            for name in order:
                cells = []
                for key, _, decimals in columns:
                    stat = runs[name].get(key)
                    if stat is None:
                        cells.append("n/a")
                    elif stat["n"] > 1:
                        cells.append(f"{stat['mean']:.{decimals}f} ± {stat['std']:.{decimals}f}")
                    else:
                        cells.append(f"{stat['mean']:.{decimals}f}")
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
            lines.append("")
            lines += format_quality(runs)
            pairs = paired.get(request, {}).get(setting, [])
            lines += format_paired(runs, pairs)
            best = lowest_run(runs)
            for name in focus:
                if name != best:  # the best's table is already there
                    lines += format_versus(runs, pairs, name)
    return "\n".join(lines)


def plot(summary: dict[str, Any], path: str) -> None:
    """Avg Gap (lower is better) against per-request time / retraining time, one point per method (mean ± std
    over seeds); doing nothing (the original model) is the dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    settings = summary["aggregate"].get("first", {})
    methods = {name: spec["method"] for name, spec in summary["methods"].items()}
    colours = {m: f"C{i % 10}" for i, m in enumerate(sorted(set(methods.values())))}
    fig, axes = plt.subplots(1, max(1, len(settings)), figsize=(6.5 * max(1, len(settings)), 4.8), squeeze=False)
    for ax, (setting, runs) in zip(axes[0], settings.items(), strict=False):
        if "original" in runs:
            ax.axhline(runs["original"]["avg_gap"]["mean"], color="grey", linestyle="--", label="do nothing")
        shown = set()
        for name, stats in runs.items():
            if name in ("retrained", "original"):
                continue
            method = methods.get(name, name)
            x, y = stats["time_ratio"]["mean"], stats["avg_gap"]["mean"]
            ax.errorbar(x, y, xerr=stats["time_ratio"]["std"], yerr=stats["avg_gap"]["std"], fmt="o", capsize=3,
                        color=colours.get(method, "k"), label=None if method in shown else method)
            shown.add(method)
            if len(runs) <= 14:
                ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if "retrained" in runs:
            ax.plot([1.0], [0.0], marker="*", markersize=12, color="black", linestyle="none", label="retrain (reference)")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("per-request time / retraining time (log scale)")
        ax.set_ylabel("Avg Gap to retrained (points, lower is better)")
        ax.set_title(setting)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def update_markdown(path: str, name: str, report: str) -> None:
    """Replace (or append) the section between this benchmark's markers in a Markdown file."""
    begin, end = f"<!-- benchmark:{name}:begin -->", f"<!-- benchmark:{name}:end -->"
    text = open(path).read() if os.path.isfile(path) else ""
    block = f"{begin}\n{report}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    write_text_atomic(path, text)

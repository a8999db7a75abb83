"""The persons benchmark's figures, all computed from the kept logits: per-person scores against the seed's
retrained reference, the retrain-vs-retrain noise floor, pooled scores, paired differences between methods, the
verdict's calibration (how often it certifies a second retrain, the original, a half-way model) and the checks
(own retrains, a random request)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..evaluation import AVG_GAP_KEYS
from ..mia.attacks import svc_attack_scores, true_class_probability
from ..mia.equivalence import (
    CANNOT_CERTIFY,
    CERTIFIED,
    VerdictSettings,
    calibrated_scores,
    equivalence_verdict,
    held_out_scores,
)

#: Margins every verdict is computed at (the first is the card's default, 0.10).
MARGINS = (0.10, 0.05, 0.20)
#: Models every seed scores besides the methods' runs.
SEED_MODELS = ("original", "retrained", "retrained_b")


def _losses(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    import torch

    return torch.nn.functional.cross_entropy(torch.from_numpy(np.asarray(logits, np.float64)),
                                             torch.from_numpy(np.asarray(labels, np.int64)), reduction="none").numpy()


class Scorer:
    """Scores of one seed's models on its persons, from logits: accuracies, MIA-efficacy, verdicts."""

    def __init__(self, seed_record: dict[str, Any], labels: dict[str, np.ndarray]):
        self.seed = seed_record
        self.labels = labels  # union (train rows of the seed's persons), retain, test, tune, population
        self.union = np.asarray(seed_record["union"])
        self.position = {int(r): i for i, r in enumerate(self.union)}
        self.folds = np.asarray(seed_record["folds"])
        self.references = seed_record["references"]

    def positions(self, person: dict[str, Any]) -> np.ndarray:
        return np.asarray([self.position[int(r)] for r in person["rows"]])

    def score(self, logits: dict[str, np.ndarray], person: dict[str, Any], own_rows_only: bool,
              member_calls: np.ndarray | None = None, looks: int = 1) -> dict[str, Any]:
        """One model on one person. `own_rows_only`: the logits' `persons` hold this person's rows alone (a
        request's model), else every person of the seed (`member_calls`: the SVC's calls on them, fitted once)."""
        positions = self.positions(person)
        person_logits = logits["persons"] if own_rows_only else logits["persons"][positions]
        person_labels = self.labels["union"][positions]
        test_key = "tune" if person["validation"] else "test"
        metrics = {"forget_accuracy": _accuracy(person_logits, person_labels),
                   "retain_accuracy": _accuracy(logits["retain"], self.labels["retain"]),
                   "test_accuracy": _accuracy(logits[test_key], self.labels[test_key])}
        if member_calls is None:
            member_calls = self.member_calls(logits, person_logits, person_labels, test_key)
        else:
            member_calls = member_calls[positions]
        metrics["mia_efficacy"] = float(100.0 * (1.0 - member_calls.mean()))
        metrics["nonmember_calls"] = int((~member_calls).sum())
        metrics["correct"] = int((person_logits.argmax(1) == person_labels).sum())
        verdicts = {}
        ref_person = [ref["persons"][positions] for ref in self.references]
        ref_population = [ref["population"] for ref in self.references]
        scores = calibrated_scores(person_logits, person_labels, ref_person, self.folds[positions],
                                   logits["population"], self.labels["population"], ref_population)
        for margin in MARGINS:
            verdicts[f"{margin:g}"] = _short(equivalence_verdict(*scores, VerdictSettings(margin=margin), "references",
                                                                 looks))
        held = held_out_scores(_losses(person_logits, person_labels), person_labels,
                               _losses(logits["population"], self.labels["population"]), self.labels["population"])
        held_out = {f"{m:g}": _short(equivalence_verdict(*held, VerdictSettings(margin=m), "held_out", looks))
                    for m in MARGINS}
        return {"metrics": metrics, "verdicts": verdicts, "held_out_verdicts": held_out}

    def member_calls(self, logits: dict[str, np.ndarray], rows_logits: np.ndarray, rows_labels: np.ndarray,
                     test_key: str) -> np.ndarray:
        """SalUn's SVC on the model's true-class confidence, retain rows vs test rows; True = called a member."""
        retain = true_class_probability(logits["retain"], self.labels["retain"])
        test = true_class_probability(logits[test_key], self.labels[test_key])
        audited = true_class_probability(rows_logits, rows_labels)
        return svc_attack_scores(retain, test, audited, seed=0) > 0


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(100.0 * (np.asarray(logits).argmax(1) == np.asarray(labels)).mean())


def _short(verdict: Any) -> dict[str, Any]:
    keep = ("outcome", "auc", "low", "high", "images", "minimum_images", "power")
    return {k: getattr(verdict, k) for k in keep}


def avg_gap(metrics: dict[str, float], reference: dict[str, float]) -> float:
    return float(np.mean([abs(metrics[k] - reference[k]) for k in AVG_GAP_KEYS]))


# -------------------------------------------------------------------------------------------------------- records
def summarise(bench: Any) -> dict[str, Any]:
    """Every per-person record of the benchmark, with its aggregates (JSON-safe: no logits)."""
    label_col = "label"
    train_labels = np.asarray(bench.train[label_col])
    common = {"test": np.asarray(bench.test[label_col]), "tune": np.asarray(bench.tune_rows[label_col]),
              "population": np.asarray(bench.holdout[label_col])}
    records: list[dict[str, Any]] = []
    seeds_info = []
    scorers = {}
    for seed_record in (r for r in bench.person_records if r["kind"] == "seed"):
        seed = seed_record["seed"]
        labels = {**common, "union": train_labels[np.asarray(seed_record["union"])],
                  "retain": train_labels[np.asarray(seed_record["retain_rows"])]}
        scorer = scorers[seed] = Scorer(seed_record, labels)
        persons = seed_record["persons"]
        seeds_info.append({k: v for k, v in seed_record.items() if k not in ("models", "references", "union", "folds",
                                                                             "retain_rows")})
        for name in SEED_MODELS:
            if name not in seed_record["models"]:
                continue
            logits = seed_record["models"][name]
            union_labels = labels["union"]
            calls = {key: scorer.member_calls(logits, logits["persons"], union_labels, key) for key in ("test", "tune")}
            for person in persons:
                scored = scorer.score(logits, person, own_rows_only=False,
                                      member_calls=calls["tune" if person["validation"] else "test"])
                records.append({"seed": seed, "name": name, "method": name, "person": person["name"],
                                "person_kind": person["kind"], "validation": person["validation"],
                                "images": len(person["rows"]), "request_s": 0.0, **scored})
        by_name = {p["name"]: p for p in persons}
        for run in (r for r in bench.person_records if r["kind"] == "request" and r["seed"] == seed):
            person = by_name[run["person"]]
            looks = (run.get("stopping") or {}).get("looks", 1)  # a stopping rule's run: tested at alpha / looks
            scored = scorer.score(run["logits"], person, own_rows_only=True, looks=looks)
            records.append({"seed": seed, "name": run["name"], "method": run["method"], "person": person["name"],
                            "person_kind": person["kind"], "validation": person["validation"],
                            "images": len(person["rows"]), "request_s": run["request_s"],
                            "prepared_s": run.get("prepared_s", 0.0), "timings": run["timings"], **scored})
    _add_gaps(records, {s["seed"]: s["retrain_s"] for s in seeds_info})
    checks = [_own_retrain_check(c, scorers[c["seed"]], records) for c in bench.checks if c["kind"] == "own_retrain"]
    randoms = [_random_check(c, train_labels, common["population"]) for c in bench.checks
               if c["kind"] == "random_request"]
    return {"records": records, "seeds": seeds_info, "own_retrain_checks": checks, "random_request_checks": randoms,
            "aggregate": aggregate(records), "command": bench.args.command,
            "methods": {name: {"method": m, **o} for name, (m, o) in bench.variants.items()},
            "persons": {k: v for k, v in bench.plan_persons.__dict__.items() if k != "spec"} | {
                "spec": bench.plan_persons.spec.__dict__}}


def _add_gaps(records: list[dict[str, Any]], retrain_s: dict[int, float]) -> None:
    reference = {(r["seed"], r["person"]): r["metrics"] for r in records if r["name"] == "retrained"}
    for r in records:
        r["metrics"]["avg_gap"] = avg_gap(r["metrics"], reference[(r["seed"], r["person"])])
        r["time_ratio"] = r["request_s"] / retrain_s[r["seed"]] if retrain_s[r["seed"]] else float("nan")


def _own_retrain_check(check: dict[str, Any], scorer: Scorer, records: list[dict[str, Any]]) -> dict[str, Any]:
    person = next(p for p in scorer.seed["persons"] if p["name"] == check["person"])
    own = scorer.score(check["logits"], person, own_rows_only=False)["metrics"]
    shared = {r["name"]: r["metrics"] for r in records if r["seed"] == check["seed"] and r["person"] == person["name"]
              and r["name"] in ("retrained", "retrained_b")}
    return {"seed": check["seed"], "person": person["name"], "kind": person["kind"], "images": len(person["rows"]),
            "own": {k: own[k] for k in AVG_GAP_KEYS}, "shared": {k: shared["retrained"][k] for k in AVG_GAP_KEYS},
            "own_vs_shared_avg_gap": avg_gap(own, shared["retrained"]),
            "second_vs_shared_avg_gap": avg_gap(shared["retrained_b"], shared["retrained"]) if "retrained_b" in shared
            else None}


def _random_check(check: dict[str, Any], train_labels: np.ndarray, population_labels: np.ndarray) -> dict[str, Any]:
    """The verdict on a random request's rows (whole, and in chunks) for the model retrained without them and
    the original, with both targets."""
    rows = np.asarray(check["rows"])
    labels = train_labels[rows]
    folds = np.asarray(check["folds"])
    chunks = np.array_split(np.random.default_rng(check["seed"]).permutation(len(rows)), check["chunks"])
    out: dict[str, Any] = {"seed": check["seed"], "fraction": check["fraction"], "images": len(rows),
                           "chunk_images": int(np.median([len(c) for c in chunks])), "models": {}}
    for name, logits in check["logits"].items():
        entry: dict[str, Any] = {}
        for label, parts in (("whole", [np.arange(len(rows))]), ("chunks", chunks)):
            for target in ("references", "held_out"):
                for margin in MARGINS:
                    outcomes = []
                    for part in parts:
                        if target == "references":
                            scores = calibrated_scores(logits["forget"][part], labels[part],
                                                       [r["forget"][part] for r in check["references"]], folds[part],
                                                       logits["population"], population_labels,
                                                       [r["population"] for r in check["references"]])
                        else:
                            scores = held_out_scores(_losses(logits["forget"][part], labels[part]), labels[part],
                                                     _losses(logits["population"], population_labels), population_labels)
                        outcomes.append(_short(equivalence_verdict(*scores, VerdictSettings(margin=margin), target)))
                    entry[f"{label}/{target}/{margin:g}"] = _rate(outcomes)
        out["models"][name] = entry
    return out


def _rate(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    eligible = [o for o in outcomes if o["outcome"] != CANNOT_CERTIFY]
    certified = sum(o["outcome"] == CERTIFIED for o in eligible)
    return {"tested": len(outcomes), "eligible": len(eligible), "certified": certified,
            "rate": certified / len(eligible) if eligible else float("nan"),
            "auc_mean": float(np.mean([o["auc"] for o in outcomes])),
            "minimum_images": int(np.median([o["minimum_images"] for o in outcomes]))}


# -------------------------------------------------------------------------------------------------------- aggregates
def paired_interval(differences: list[float], confidence: float = 0.95) -> dict[str, float]:
    from scipy.stats import t

    d = np.asarray(differences, float)
    n = len(d)
    if n < 2:
        return {"mean": float(d.mean()) if n else float("nan"), "low": float("nan"), "high": float("nan"), "n": n}
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * float(d.std(ddof=1)) / np.sqrt(n)
    return {"mean": float(d.mean()), "low": float(d.mean() - half), "high": float(d.mean() + half), "n": n,
            "detectable": float(2.8 * d.std(ddof=1) / np.sqrt(n))}


def aggregate(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (validation or report, kind, run name): mean per-person Avg Gap, its ratio to the retrain-vs-retrain
    floor, pooled Avg Gap per seed (each metric over all persons' images), request time, verdict rates."""
    out: dict[str, Any] = {}
    for split in ("report", "validation"):
        chosen = [r for r in records if r["validation"] == (split == "validation")]
        if not chosen:
            continue
        kinds = sorted({r["person_kind"] for r in chosen}) + ["all"]
        table: dict[str, Any] = {}
        for kind in kinds:
            rows = [r for r in chosen if kind == "all" or r["person_kind"] == kind]
            names = list(dict.fromkeys(r["name"] for r in rows))
            floor = _mean([r["metrics"]["avg_gap"] for r in rows if r["name"] == "retrained_b"])
            entry = {}
            for name in names:
                mine = [r for r in rows if r["name"] == name]
                gaps = [r["metrics"]["avg_gap"] for r in mine]
                entry[name] = {
                    "persons": len(mine), "avg_gap": _mean(gaps), "avg_gap_sd": float(np.std(gaps, ddof=1)) if
                    len(gaps) > 1 else float("nan"), "floor_ratio": _mean(gaps) / floor if floor else float("nan"),
                    "pooled_avg_gap": _pooled(rows, name),
                    **{f"mean_{k}": _mean([r["metrics"][k] for r in mine]) for k in AVG_GAP_KEYS},
                    "request_s": float(np.median([r["request_s"] for r in mine])),
                    "time_ratio": float(np.median([r.get("time_ratio", 0.0) for r in mine])),
                    "verdicts": {m: _rate([r["verdicts"][m] for r in mine]) for m in mine[0]["verdicts"]},
                    "held_out_verdicts": {m: _rate([r["held_out_verdicts"][m] for r in mine])
                                          for m in mine[0]["held_out_verdicts"]}}
            entry["floor"] = floor
            entry["paired"] = _paired(rows, names)
            table[kind] = entry
        out[split] = table
    return out


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _pooled(rows: list[dict[str, Any]], name: str) -> dict[str, float]:
    """Avg Gap with each metric over all persons' images of a seed (a request's own model for each person), per seed
    and their mean."""
    per_seed = {}
    for seed in sorted({r["seed"] for r in rows}):
        pooled = {}
        for model in (name, "retrained"):
            mine = [r for r in rows if r["seed"] == seed and r["name"] == model]
            images = sum(r["images"] for r in mine)
            if not images:
                break
            pooled[model] = {"forget_accuracy": 100.0 * sum(r["metrics"]["correct"] for r in mine) / images,
                             "mia_efficacy": 100.0 * sum(r["metrics"]["nonmember_calls"] for r in mine) / images,
                             "retain_accuracy": _mean([r["metrics"]["retain_accuracy"] for r in mine]),
                             "test_accuracy": _mean([r["metrics"]["test_accuracy"] for r in mine])}
        if len(pooled) == 2:
            per_seed[str(seed)] = avg_gap(pooled[name], pooled["retrained"])
    return {"per_seed": per_seed, "mean": _mean(list(per_seed.values()))}


def _paired(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Per-person Avg Gap differences (paired by seed and person) between every two runs of the methods."""
    gap = {(r["name"], r["seed"], r["person"]): r["metrics"]["avg_gap"] for r in rows}
    methods = [n for n in names if n not in SEED_MODELS]
    out = {}
    for a in methods + ["retrained_b"]:
        for b in methods:
            if a == b:
                continue
            keys = [(s, p) for (n, s, p) in gap if n == a and (b, s, p) in gap]
            if keys:
                out[f"{a} - {b}"] = paired_interval([gap[(a, *k)] - gap[(b, *k)] for k in keys])
    return out


# -------------------------------------------------------------------------------------------------------- report
def write_person_report(summary: dict[str, Any], args: Any) -> None:
    from .benchmark_report import update_markdown

    os.makedirs(args.report_dir, exist_ok=True)
    stem = os.path.join(args.report_dir, args.report_name)
    with open(stem + ".json", "w") as f:
        json.dump(summary, f, indent=1, default=float)
    report = format_person_report(summary, args.report_name)
    with open(stem + ".md", "w") as f:
        f.write(report)
    if args.benchmarks_md:
        update_markdown(args.benchmarks_md, args.report_name, report + f"\nJSON: `{stem}.json`\n")
    print("\n" + report)


def format_person_report(summary: dict[str, Any], name: str) -> str:
    lines = [f"Command: `{summary.get('command')}`", ""]
    seeds = summary["seeds"]
    lines.append("Seeds " + ", ".join(str(s["seed"]) for s in seeds) + "; retrain (one reference per seed) "
                 + ", ".join(f"{s['retrain_s']:.0f}s" for s in seeds) + "; verdict references (once) "
                 + ", ".join(f"{s['verdict_preparation_s']:.0f}s" for s in seeds) + ".")
    for split, table in summary["aggregate"].items():
        for kind, entry in table.items():
            lines += ["", f"**{split} persons, {kind}** (per-person Avg Gap against the seed's retrained model; floor ="
                      f" a second retrain, {entry['floor']:.2f})", "",
                      "| run | persons | per-person Avg Gap | x floor | pooled Avg Gap | forget acc | MIA-eff | "
                      "test acc | certified @0.10 | certified @0.20 | request s | x retrain |",
                      "|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for run, e in entry.items():
                if run in ("floor", "paired"):
                    continue
                v10, v20 = e["verdicts"].get("0.1", {}), e["verdicts"].get("0.2", {})
                lines.append(f"| {run} | {e['persons']} | {e['avg_gap']:.2f} ± {e['avg_gap_sd']:.2f} | "
                             f"{e['floor_ratio']:.2f} | {e['pooled_avg_gap']['mean']:.2f} | "
                             f"{e['mean_forget_accuracy']:.1f} | {e['mean_mia_efficacy']:.1f} | "
                             f"{e['mean_test_accuracy']:.1f} | {_fmt_rate(v10)} | {_fmt_rate(v20)} | "
                             f"{e['request_s']:.1f} | {e['time_ratio']:.3f} |")
            paired = entry["paired"]
            if paired:
                lines += ["", "| paired per-person Avg Gap difference | mean [95% CI] | pairs | detectable |",
                          "|---|---|---|---|"]
                for pair, p in paired.items():
                    lines.append(f"| {pair} | {p['mean']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}] | {p['n']} | "
                                 f"{p.get('detectable', float('nan')):.2f} |")
    if summary["own_retrain_checks"]:
        lines += ["", "**One reference for every person vs one retrain per person** (Avg Gap on the person's images)",
                  "", "| person | images | own retrain vs shared reference | second retrain vs shared reference |",
                  "|---|---|---|---|"]
        for c in summary["own_retrain_checks"]:
            lines.append(f"| {c['person']} | {c['images']} | {c['own_vs_shared_avg_gap']:.2f} | "
                         f"{c['second_vs_shared_avg_gap']:.2f} |")
    for check in summary["random_request_checks"]:
        lines += ["", f"**Verdict on a random {check['fraction']:.0%} request** (seed {check['seed']}, {check['images']} "
                  f"images, and {check['chunk_images']}-image chunks): share certified among testable", "",
                  "| model | rows | target | @0.05 | @0.10 | @0.20 |", "|---|---|---|---|---|---|"]
        for model, entry in check["models"].items():
            for part in ("whole", "chunks"):
                for target in ("references", "held_out"):
                    cells = [_fmt_rate(entry[f"{part}/{target}/{m:g}"]) for m in (0.05, 0.10, 0.20)]
                    lines.append(f"| {model} | {part} | {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt_rate(rate: dict[str, Any]) -> str:
    if not rate:
        return "n/a"
    if not rate["eligible"]:
        return f"— (0/{rate['tested']} testable; needs {rate['minimum_images']})"
    return f"{rate['certified']}/{rate['eligible']}" + (f" of {rate['tested']}" if rate["eligible"] < rate["tested"] else "")

"""The verdict (hf_unlearn/mia/equivalence.py, verdict.py, audit/verdict_references.py): an equivalence test with a
margin, "cannot certify" below the size the margin needs, error control over a stopping rule's looks, a target
calibrated by reference models that never saw the person, and what a run, its card and the push gate make of it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.audit.verdict_references import (
    fold_assignment,
    load_verdict_references,
    prepare_verdict_references,
)
from hf_unlearn.errors import GateError
from hf_unlearn.gate import check_gate, gate_metrics, parse_gate
from hf_unlearn.mia.equivalence import (
    CANNOT_CERTIFY,
    CERTIFIED,
    NOT_CERTIFIED,
    VerdictSettings,
    calibrated_scores,
    equivalence_verdict,
    held_out_scores,
    minimum_images,
)
from hf_unlearn.options import OptionError
from hf_unlearn.scratch import ClassifierRecipe

CLASSES = 10


def population(rng, per_class=300):
    labels = np.repeat(np.arange(CLASSES), per_class)
    return rng.normal(size=len(labels)), labels


def shift_for_auc(auc: float) -> float:
    """The normal shift of member scores that gives this AUC against N(0, 1) non-members."""
    from scipy.stats import norm

    return float(np.sqrt(2) * norm.ppf(auc))


# ------------------------------------------------------------------------------------------- the test itself
def test_a_model_at_the_target_is_certified_and_one_outside_the_margin_is_not():
    rng = np.random.default_rng(0)
    scores, labels = population(rng)
    at_target = equivalence_verdict(rng.normal(size=600), rng.integers(0, CLASSES, 600), scores, labels,
                                    VerdictSettings(margin=0.1), "held_out")
    assert at_target.outcome == CERTIFIED and at_target.low > 0.4 and at_target.high < 0.6
    remembered = equivalence_verdict(rng.normal(shift_for_auc(0.75), size=600), rng.integers(0, CLASSES, 600),
                                     scores, labels, VerdictSettings(margin=0.1), "held_out")
    assert remembered.outcome == NOT_CERTIFIED and "still remembered" in remembered.reason
    too_far = equivalence_verdict(rng.normal(shift_for_auc(0.25), size=600), rng.integers(0, CLASSES, 600),
                                  scores, labels, VerdictSettings(margin=0.1), "held_out")
    assert too_far.outcome == NOT_CERTIFIED and "past unseen" in too_far.reason


def test_below_the_minimum_size_the_verdict_is_cannot_certify_never_a_pass():
    rng = np.random.default_rng(1)
    scores, labels = population(rng)
    needed = minimum_images(0.1, population_terms=0.0)
    assert 80 <= needed <= 100  # (z_0.95 + z_0.95)^2 / (12 * 0.1^2): about 90 images for a margin of 0.1
    assert minimum_images(0.05) > 3 * needed and minimum_images(0.2) < needed / 3
    for _ in range(50):  # members exactly like non-members: still never certified at 40 images
        small = equivalence_verdict(rng.normal(size=40), rng.integers(0, CLASSES, 40), scores, labels,
                                    VerdictSettings(margin=0.1), "held_out")
        assert small.outcome == CANNOT_CERTIFY
    assert "40 images" in small.reason and f"needs at least {small.minimum_images}" in small.reason
    assert small.minimum_images >= needed


def test_forget_rows_of_a_class_the_held_out_rows_lack_cannot_be_certified_never_a_crash():
    """Held-out rows of classes 0-4 only: forget rows of classes 5-9 have nothing to compare with (no verdict at
    all, said so), and a forget set half of them cannot be certified on the half that can (never a pass)."""
    rng = np.random.default_rng(2)
    scores, labels = population(rng)
    kept = labels < 5
    settings = VerdictSettings(margin=0.2)
    none = equivalence_verdict(rng.normal(size=400), np.full(400, 7), scores[kept], labels[kept], settings,
                               "references")
    assert none.outcome == CANNOT_CERTIFY and "hold no row of the forget rows' classes" in none.reason
    assert none.images == 400 and none.population == 0 and none.auc != none.auc
    half = equivalence_verdict(rng.normal(size=400), np.r_[np.zeros(200), np.full(200, 7)], scores[kept],
                               labels[kept], settings, "held_out")
    assert half.outcome == CANNOT_CERTIFY and "of 50% of the forget rows" in half.reason
    whole = equivalence_verdict(rng.normal(size=400), np.zeros(400), scores[kept], labels[kept], settings, "held_out")
    assert whole.outcome == CERTIFIED  # the same rows, every class present: the size is enough


def test_the_error_rate_holds_at_the_margin_and_over_a_stopping_rules_looks():
    """A model whose AUC lies exactly at the edge of the margin (0.6) must be certified at most alpha of the time,
    also when a rule looks 4 times and stops at the first certified look; testing each look at the full alpha does
    not keep that promise."""
    rng = np.random.default_rng(2)
    settings = VerdictSettings(margin=0.1, alpha=0.05)
    edge = shift_for_auc(0.6)
    trials, any_split, any_naive = 400, 0, 0
    for _ in range(trials):
        split = naive = False
        for _look in range(4):  # independent looks: the worst case for repeated testing
            scores, labels = population(rng, 80)
            members = rng.normal(edge, size=400)
            groups = rng.integers(0, CLASSES, 400)
            split |= equivalence_verdict(members, groups, scores, labels, settings, "held_out", looks=4).certified
            naive |= equivalence_verdict(members, groups, scores, labels, settings, "held_out", looks=1).certified
        any_split += split
        any_naive += naive
    assert any_split / trials <= 0.06
    assert any_naive / trials > any_split / trials


# ------------------------------------------------------------------------------------------- the target
def test_references_take_out_how_hard_a_persons_images_are():
    """A person's photos are harder than random rows for every model that never saw them: compared with held-out rows
    directly they look "over-forgotten" even on a retrained model; against references that never saw the person the
    same model is certified."""
    rng = np.random.default_rng(3)
    n, m, k = 400, 2000, 2
    labels, population_labels = rng.integers(0, CLASSES, n), rng.integers(0, CLASSES, m)
    difficulty = -1.5  # the person's images: lower confidence for any model that never saw them

    def logits(margins, y):
        out = np.zeros((len(y), CLASSES))
        out[np.arange(len(y)), y] = margins
        return out

    def model_logits(own_noise):
        return (logits(difficulty + rng.normal(size=n) * own_noise, labels),
                logits(rng.normal(size=m) * own_noise, population_labels))

    retrained = model_logits(1.0)
    references = [model_logits(1.0) for _ in range(k)]
    folds = rng.integers(0, k, n)
    scores = calibrated_scores(retrained[0], labels, [r[0] for r in references], folds, retrained[1],
                               population_labels, [r[1] for r in references])
    assert equivalence_verdict(*scores, VerdictSettings(), "references").outcome == CERTIFIED
    losses = -retrained[0][np.arange(n), labels] + np.log(np.exp(retrained[0]).sum(1))
    pop_losses = -retrained[1][np.arange(m), population_labels] + np.log(np.exp(retrained[1]).sum(1))
    naive = equivalence_verdict(*held_out_scores(losses, labels, pop_losses, population_labels), VerdictSettings(),
                                "held_out")
    assert naive.outcome == NOT_CERTIFIED and naive.auc < 0.4


def test_reference_folds_hold_whole_groups_and_no_reference_trains_on_its_fold(monkeypatch, tmp_path, digits, processor):
    train = digits["train"].select(range(300))
    groups = np.arange(300) // 7  # "persons" of 7 rows
    folds = fold_assignment(groups, 3, seed=0)
    for g in np.unique(groups):
        assert len(set(folds[groups == g])) == 1
    seen: list[set[int]] = []

    def spy_train(model, processor, dataset, args, augmentation="none"):
        seen.append(set(dataset["row"]))
        return model

    monkeypatch.setattr("hf_unlearn.audit.verdict_references.train_classifier", spy_train)
    from tests.conftest import make_tiny_model

    config = UnlearningConfig(str(tmp_path / "args"), use_cpu=True, report_to="none")
    refs = prepare_verdict_references(make_tiny_model, processor, train.add_column("row", list(range(300))),
                                      str(tmp_path / "refs"), ClassifierRecipe(1, 0.01, 32), config, "d" * 64, groups,
                                      "person", 3, seed=0, log=lambda _: None)
    assert len(seen) == 3
    for k, rows in enumerate(seen):  # reference k never saw a row of fold k, nor any row of a group in it
        assert not rows & set(np.flatnonzero(refs.folds == k).tolist())
        assert not set(groups[sorted(rows)]) & set(groups[refs.folds == k])
    loaded = load_verdict_references(str(tmp_path / "refs"))
    assert loaded.record["group_column"] == "person" and (loaded.folds == refs.folds).all()
    spread = [("p", np.flatnonzero(np.isin(np.arange(300), [0, 1, 2, 150, 151])))]  # rows of two folds
    if len(set(refs.folds[spread[0][1]])) > 1:
        with pytest.raises(OptionError, match="several folds"):
            loaded.check_groups(spread, np.arange(300))


# ------------------------------------------------------------------------------------------- a run, its card, the gate
@pytest.fixture(scope="module")
def verdict_run(tmp_path_factory, digits, processor):
    """An original that memorised its 300 training rows (40 epochs: train loss far below test loss), a random
    quarter of them forgotten by one light epoch of fine-tuning."""
    from transformers import TrainingArguments

    from hf_unlearn.scratch import train_classifier
    from tests.conftest import make_tiny_model

    out = tmp_path_factory.mktemp("verdict")
    train = digits["train"].select(range(300))
    args = TrainingArguments(str(out / "run"), num_train_epochs=40, learning_rate=0.05, per_device_train_batch_size=32,
                             optim="sgd", optim_args="momentum=0.9", lr_scheduler_type="cosine", use_cpu=True,
                             report_to="none", save_strategy="no", disable_tqdm=True, remove_unused_columns=False,
                             seed=0)
    train_classifier(make_tiny_model(), processor, train, args).save_pretrained(out / "model")
    processor.save_pretrained(out / "model")
    test, holdout = digits["test"].select(range(180)), digits["test"].select(range(180, 360))
    config = UnlearningConfig(str(out / "fraction"), forget_fraction=0.25, method="finetune", num_train_epochs=1,
                              learning_rate=0.001, per_device_train_batch_size=32, use_cpu=True, report_to="none",
                              disable_tqdm=True, mia_splits=3, verdict={"margin": 0.2})
    trainer = UnlearningTrainer(str(out / "model"), config, train, test, holdout_dataset=holdout)
    return out, trainer, trainer.unlearn()


def test_the_verdict_never_certifies_an_unchanged_original_that_memorised_its_forget_set(verdict_run):
    _, trainer, result = verdict_run
    original = result.verdict["models"]["original"]
    assert original["target"] == "held_out" and original["images"] >= original["minimum_images"]
    assert original["outcome"] == NOT_CERTIFIED and original["low"] > 0.5  # still remembered, and shown to be
    assert result.verdict["models"]["unlearned"]["outcome"] in (CERTIFIED, NOT_CERTIFIED)
    assert result.verdict["outcome"] == result.verdict["models"]["unlearned"]["outcome"]


def test_the_card_states_the_verdict_its_margin_and_size(verdict_run):
    out, _, result = verdict_run
    card = (out / "fraction" / "README.md").read_text()
    assert "## Verdict:" in card and result.verdict["reason"] in card and "0.5 ± 0.2" in card
    report = json.loads((out / "fraction" / "unlearning_report.json").read_text())
    assert report["verdict"]["models"]["original"]["outcome"] == NOT_CERTIFIED


def test_a_person_level_request_without_references_cannot_be_certified(trained_model_dir, digits, tmp_path):
    train = digits["train"].add_column("owner", [f"p{i % 40:02d}" for i in range(len(digits["train"]))])
    config = UnlearningConfig(str(tmp_path / "o"), forget_where={"owner": ["p01", "p02"]}, method="finetune",
                              num_train_epochs=1, use_cpu=True, report_to="none", disable_tqdm=True, mia_splits=3)
    trainer = UnlearningTrainer(trained_model_dir, config, train, digits["test"].select(range(180)),
                                holdout_dataset=digits["test"].select(range(180, 360)))
    assert trainer.verdict_phase.reason and "not at random" in trainer.verdict_phase.reason
    forget = trainer.original_predictions("forget", trainer.forget_dataset)
    verdict = trainer.verdict_phase.verdict(forget, None)
    assert verdict.outcome == CANNOT_CERTIFY and "verdict references" in verdict.reason


def test_the_gate_can_require_a_certified_verdict():
    thresholds = parse_gate({"require_verdict": True, "max_avg_gap": 5})
    passed = {"metrics": {"unlearned": {"avg_gap": 1.0}}, "verdict": {"outcome": CERTIFIED, "reason": "certified: ..."}}
    assert check_gate(thresholds, gate_metrics(passed)) == []
    small = {"metrics": {"unlearned": {"avg_gap": 1.0}},
             "verdict": {"outcome": CANNOT_CERTIFY, "reason": "cannot certify: 40 images; margin 0.1 needs at least 91"}}
    failures = check_gate(thresholds, gate_metrics(small), small["verdict"]["reason"])
    assert len(failures) == 1 and "needs at least 91" in failures[0]
    assert check_gate(thresholds, gate_metrics({"metrics": {"unlearned": {"avg_gap": 1.0}}}))  # never measured
    with pytest.raises(GateError, match="require_verdict"):
        parse_gate({"require_verdict": "yes"})


def test_bad_verdict_options_name_the_option(tmp_path):
    with pytest.raises(OptionError, match="verdict.margin"):
        UnlearningConfig(str(tmp_path), forget_fraction=0.1, verdict={"margin": 0.7})
    with pytest.raises(OptionError, match=r"\['marign'\] are not verdict options"):
        UnlearningConfig(str(tmp_path), forget_fraction=0.1, verdict={"marign": 0.1})
    assert UnlearningConfig(str(tmp_path), forget_fraction=0.1, verdict='{"alpha": "0.01"}').verdict


def test_prepared_references_are_the_target_of_a_person_request_and_of_its_stopping_rule(trained_model_dir, digits,
                                                                                          tmp_path):
    """`hf-unlearn prepare` with verdict references grouped by owner (never into the model's folder), then a
    person-level request with the stopping rule: both compare each image against the reference that never saw its
    owner."""
    import yaml

    from hf_unlearn.cli import main

    data = tmp_path / "data"
    data.mkdir()
    owners = [f"u{i % 30:02d}" for i in range(len(digits["train"]))]
    digits["train"].add_column("owner", owners).to_parquet(str(data / "train.parquet"))
    digits["test"].add_column("owner", ["test"] * len(digits["test"])).to_parquet(str(data / "test.parquet"))
    refs = tmp_path / "refs"
    recipe = {"model_name_or_path": trained_model_dir, "dataset_name": str(data), "output_dir": str(tmp_path / "run"),
              "use_cpu": True, "disable_tqdm": True, "report_to": "none", "original_epochs": 1,
              "original_batch_size": 64, "verdict": {"references": str(refs), "folds": 2, "group_column": "owner"}}
    (tmp_path / "prepare.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["prepare", str(tmp_path / "prepare.yaml")]) == 0
    record = load_verdict_references(str(refs)).record
    assert record["group_column"] == "owner" and record["folds"] == 2
    assert main(["prepare", str(tmp_path / "prepare.yaml"), "--verdict",
                 json.dumps({"references": trained_model_dir, "folds": 2})]) == 2  # never into the model's folder

    from datasets import load_dataset

    train = load_dataset("parquet", data_files={"train": str(data / "train.parquet")})["train"]
    config = UnlearningConfig(str(tmp_path / "req"), forget_where={"owner": ["u01", "u02", "u03"]}, method="finetune",
                              num_train_epochs=1, learning_rate=0.01, use_cpu=True, report_to="none", disable_tqdm=True,
                              mia_splits=3, stop_when="indistinguishable", stop_check_steps=2,
                              verdict={"references": str(refs), "margin": 0.2})
    trainer = UnlearningTrainer(trained_model_dir, config, train, digits["test"].select(range(180)),
                                holdout_dataset=digits["test"].select(range(180, 360)))
    assert trainer.verdict_phase.reason is None  # a person request can be certified: it has its references
    result = trainer.unlearn()
    forget_target = trainer.stopping.targets[0]
    assert forget_target.references is not None and len(forget_target.references) == 2
    assert set(forget_target.folds) <= {0, 1}
    assert result.verdict["settings"]["references"] and result.verdict["settings"]["looks"] == trainer.stopping.looks
    assert result.verdict["models"]["unlearned"]["target"] == "references"
    assert [g["images"] for g in result.verdict["groups"]] == [len([o for o in owners if o == u])
                                                               for u in ("u01", "u02", "u03")]


def test_person_sized_request_on_a_fixed_budget_is_warned_about():
    """A person-sized request without the stopping rule gets the measured warning; a larger one, a class
    request, or one under the rule does not."""
    from types import SimpleNamespace

    import numpy as np

    from hf_unlearn.finetuning import PERSON_SIZED_ROWS, small_request_warning

    def request(rows, kind="where"):
        return SimpleNamespace(forget_indices=np.arange(rows), forget_set=SimpleNamespace(kind=kind))

    fixed, ruled = SimpleNamespace(stop_when=None), SimpleNamespace(stop_when="indistinguishable")
    message = small_request_warning(request(25), fixed)
    assert message is not None and "25 rows" in message and "stop_when: indistinguishable" in message
    assert small_request_warning(request(PERSON_SIZED_ROWS - 1), fixed) is not None
    assert small_request_warning(request(PERSON_SIZED_ROWS), fixed) is None
    assert small_request_warning(request(25), ruled) is None
    assert small_request_warning(request(25, kind="classes"), fixed) is None

"""The stopping rule `stop_when: indistinguishable` (hf_unlearn/stopping.py): its statistic, its decisions on runs
that have and have not forgotten, its budget, its targets other than "unseen", and that it never reads the test
split. Unit tests drive the callback with made-up predictions; one run goes through `UnlearningTrainer`."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import TrainerControl

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.commands.arguments import DataArguments, load_holdout
from hf_unlearn.commands.benchmark_plan import plan_settings
from hf_unlearn.data import DataError, image_digests, load_image_dataset
from hf_unlearn.errors import UsageError
from hf_unlearn.evaluation import Predictions
from hf_unlearn.mia.equivalence import VerdictSettings
from hf_unlearn.mia.stats import stratified_auc
from hf_unlearn.options import OptionError
from hf_unlearn.stopping import IndistinguishableStop, StopTarget, check_target

K = 10


# ------------------------------------------------------------------------------------------- the statistic
def test_stratified_auc_is_half_for_the_same_distribution_and_high_for_members():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(5), 200)
    same = stratified_auc(rng.normal(size=1000), groups, rng.normal(size=1000), groups)
    assert same["low"] <= 0.5 <= same["high"] and same["coverage"] == 1.0
    apart = stratified_auc(rng.normal(1.0, size=1000), groups, rng.normal(size=1000), groups)
    assert apart["low"] > 0.6


def test_stratified_auc_is_not_fooled_by_a_different_class_mix():
    """Class 0 is easy (high scores) for members and non-members alike; members hold mostly class 0. Pooled, the
    AUC would call them members; compared within each class it does not."""
    rng = np.random.default_rng(1)
    member_groups = np.r_[np.zeros(900), np.ones(100)]
    nonmember_groups = np.r_[np.zeros(100), np.ones(900)]
    offset = {0: 3.0, 1: 0.0}
    members = rng.normal(size=1000) + np.vectorize(offset.get)(member_groups)
    nonmembers = rng.normal(size=1000) + np.vectorize(offset.get)(nonmember_groups)
    from sklearn.metrics import roc_auc_score

    pooled = roc_auc_score(np.r_[np.ones(1000), np.zeros(1000)], np.r_[members, nonmembers])
    assert pooled > 0.8
    stats = stratified_auc(members, member_groups, nonmembers, nonmember_groups)
    assert stats["low"] <= 0.5 <= stats["high"]


# ------------------------------------------------------------------------------------------- the callback
def logits_for(labels: np.ndarray, margins: np.ndarray) -> np.ndarray:
    """Logits whose true-class logit is `margin` above the others (loss falls as the margin grows; the row is
    predicted right when margin > 0, else as class (y + 1) % K)."""
    logits = np.zeros((len(labels), K), dtype=np.float32)
    logits[np.arange(len(labels)), labels] = margins
    wrong = margins <= 0
    logits[np.flatnonzero(wrong), (labels[wrong] + 1) % K] = 0.5
    return logits


class FakeRun:
    """Predictions that follow a script: `forget(step)` and `holdout(step)` give each row's margin."""

    def __init__(self, forget, holdout, n=600, seed=0):
        rng = np.random.default_rng(seed)
        self.labels = {"rows": rng.integers(0, K, n), "holdout": rng.integers(0, K, n)}
        self.noise = {k: rng.normal(size=n) for k in self.labels}
        self.sets = {k: Dataset.from_dict({"label": v.tolist(), "set": [k] * n}) for k, v in self.labels.items()}
        self.margins = {"rows": forget, "holdout": holdout}
        self.step, self.seen = 0, []

    def predict(self, dataset: Dataset) -> Predictions:
        which = dataset["set"][0]
        self.seen.append(which)
        labels = self.labels[which]
        return Predictions(logits_for(labels, self.margins[which](self.step) + self.noise[which]), labels)

    def callback(self, **options) -> IndistinguishableStop:
        target = StopTarget("forget", "unseen", self.sets["rows"], self.sets["holdout"], [])
        settings = {"every": 0.25, "settings": VerdictSettings(), "class_rate": 0.01, "accuracy_drop": 3.0, **options}
        return IndistinguishableStop([target], self.sets["holdout"], self.predict, **settings)

    def train(self, callback: IndistinguishableStop, budget: int = 40) -> tuple[torch.nn.Module, list[int]]:
        """The Trainer's calls, step by step; the model's weight records the step it was last changed at."""
        model = torch.nn.Linear(1, 1)
        state, control = SimpleNamespace(global_step=0, max_steps=budget, epoch=0.0), TrainerControl()
        callback.on_train_begin(None, state, control, model=model)
        steps = []
        for step in range(1, budget + 1):
            self.step = state.global_step = step
            with torch.no_grad():
                model.weight.fill_(step)
            steps.append(step)
            callback.on_step_end(None, state, control, model=model)
            if control.should_training_stop:
                break
        callback.on_train_end(None, state, control, model=model)
        return model, steps


def test_stops_at_the_first_check_on_a_run_that_has_forgotten():
    run = FakeRun(forget=lambda step: 2.0 if step == 0 else 1.0, holdout=lambda step: 1.0)  # forgotten from step 1
    callback = run.callback()
    model, steps = run.train(callback)
    record = callback.record()
    assert steps[-1] == 10 and record["matched"] and record["kept_step"] == 10  # budget 40: checks every 10 steps
    assert model.weight.item() == 10 and len(record["trajectory"]) == 1


def test_keeps_going_on_a_run_that_has_not_forgotten_and_never_passes_the_budget():
    run = FakeRun(forget=lambda step: 4.0, holdout=lambda step: 1.0)  # forget rows stay far easier than unseen ones
    callback = run.callback()
    model, steps = run.train(callback, budget=40)
    record = callback.record()
    assert steps[-1] == 40 and not record["matched"]
    assert [c["step"] for c in record["trajectory"]] == [10, 20, 30, 40]
    assert all(c["targets"][0]["low"] > 0.5 for c in record["trajectory"])


def test_a_class_damaged_with_its_forget_rows_is_caught_only_by_the_class_guard():
    """A person's photos fine-tuned away with their whole class: forget rows and held-out rows of that class fall
    together (the loss attack sees nothing: AUC 0.5), the other classes hold (the overall guard passes). Without
    stop_class_accuracy_drop the rule stops at its first check; with it, the class's fall is named and not met."""
    run = FakeRun(forget=lambda step: 1.0 if step == 0 else -0.5, holdout=lambda step: 1.0 if step == 0 else -0.5)
    utility = Dataset.from_dict({"label": run.labels["holdout"].tolist(), "set": ["utility"] * 600})
    run.labels["utility"], run.noise["utility"] = run.labels["holdout"], run.noise["holdout"]
    run.margins["utility"] = lambda step: 1.0  # the other classes keep their accuracy

    def callback(**options):
        target = StopTarget("forget", "unseen", run.sets["rows"], run.sets["holdout"], [])
        return IndistinguishableStop([target], utility, run.predict, every=0.25, settings=VerdictSettings(),
                                     class_rate=0.01, accuracy_drop=3.0, **options)

    plain = callback()
    run.train(plain)
    assert plain.record()["matched"] and plain.record()["stopped_step"] == 10
    run.step = 0  # the original again: the guard measures it when training begins
    guarded = callback(class_accuracy_drop=3.0)
    run.train(guarded)
    record = guarded.record()
    first = record["trajectory"][0]["targets"][0]
    assert first["class_drop"] > 20 and not first["met"] and not record["matched"]
    assert record["class_accuracy_drop"] == 3.0 and first["original_class_accuracy"] > 70


def test_an_overshoot_stops_and_goes_back_to_the_closest_check():
    """Forgetting overshoots between checks: AUC above 0.5 at step 10, far below at step 20. The rule stops there
    and the model goes back to the weights of step 10."""
    run = FakeRun(forget=lambda step: {10: 1.6}.get(step, -1.0), holdout=lambda step: 1.0)
    callback = run.callback()
    model, steps = run.train(callback)
    record = callback.record()
    assert steps[-1] == 20 and record["outcome"] == "overshot" and not record["matched"]
    assert record["kept_step"] == 10 and model.weight.item() == 10


def test_when_the_budget_runs_out_the_run_ends_there_or_at_the_closest_check():
    """Under-forgetting throughout, closest at step 10: by default the run ends at its budget (as without the
    rule); with keep_closest the model goes back to step 10's weights."""
    run = FakeRun(forget=lambda step: {10: 1.5}.get(step, 3.0), holdout=lambda step: 1.0)
    callback = run.callback()
    model, steps = run.train(callback)
    record = callback.record()
    assert steps[-1] == 40 and record["outcome"] == "budget" and record["kept_step"] == 40
    assert record["closest_step"] == 10 and model.weight.item() == 40
    callback = run.callback(keep_closest=True)
    model, steps = run.train(callback)
    assert steps[-1] == 40 and callback.record()["kept_step"] == 10 and model.weight.item() == 10


def test_a_model_broken_by_fine_tuning_does_not_pass():
    """Forget and held-out rows alike, but both wrong: the held-out accuracy fell far below the original's."""
    run = FakeRun(forget=lambda step: 2.0 if step == 0 else -1.0,
                  holdout=lambda step: 2.0 if step == 0 else -1.0)
    callback = run.callback()
    _, steps = run.train(callback)
    record = callback.record()
    assert steps[-1] == 40 and not record["matched"]
    assert record["original_holdout_accuracy"] > 90 and record["trajectory"][0]["utility"]["drop"] > 50
    assert record["trajectory"][0]["targets"][0]["met"]  # the membership statistic alone would have stopped


def test_check_every_n_steps_and_a_step_count():
    run = FakeRun(forget=lambda step: 4.0, holdout=lambda step: 1.0)
    callback = run.callback(every=7)
    run.train(callback, budget=20)
    assert [c["step"] for c in callback.record()["trajectory"]] == [7, 14, 20]


def test_class_target_is_met_when_the_class_is_no_longer_predicted():
    labels = np.full(50, 3)
    rows = Predictions(logits_for(labels, np.full(50, -1.0)), labels)  # predicted as class 4
    still = Predictions(logits_for(labels, np.full(50, 1.0)), labels)  # still class 3
    target = StopTarget("forget", "class", Dataset.from_dict({"label": labels}), Dataset.from_dict({"label": labels}),
                        [3])
    assert check_target(target, rows, rows, VerdictSettings(), 0.01)["met"]
    result = check_target(target, still, rows, VerdictSettings(), 0.01)
    assert not result["met"] and result["class_rate"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------- through the trainer
def split_test(digits):
    test = digits["test"]
    return test.select(range(180)), test.select(range(180, len(test)))


def test_a_run_with_the_rule_never_reads_the_test_split(trained_model_dir, digits, tmp_path, monkeypatch):
    evaluation, holdout = split_test(digits)
    read: list[set[str]] = []

    class Spied(IndistinguishableStop):  # every dataset the rule scores, by its images
        def __init__(self, targets, utility, predict, *args):
            def spy(dataset):
                read.append(set(image_digests(dataset)))
                return predict(dataset)

            super().__init__(targets, utility, spy, *args)

    monkeypatch.setattr("hf_unlearn.finetuning.IndistinguishableStop", Spied)  # where the rule is built
    config = UnlearningConfig(str(tmp_path / "out"), method="random_label", forget_fraction=0.1, num_train_epochs=2,
                              learning_rate=0.01, stop_when="indistinguishable", use_cpu=True, report_to="none",
                              disable_tqdm=True, resume=False)
    trainer = UnlearningTrainer(trained_model_dir, config, digits["train"], evaluation, holdout_dataset=holdout)
    result = trainer.unlearn()
    stopping = result.stopping
    assert stopping is not None and stopping["stopped_step"] <= stopping["budget_steps"]
    assert read and not any(images & set(image_digests(evaluation)) for images in read)
    assert any(images & set(image_digests(holdout)) for images in read)
    with open(tmp_path / "out" / "unlearning_results.json") as f:
        assert json.load(f)["stopping"]["trajectory"]
    assert os.path.isfile(tmp_path / "out" / "evidence" / "stopping_trajectory.png")
    assert result.counts["holdout"] == len(holdout)


def test_the_accuracy_guard_measures_the_original_before_the_method_changes_the_model(trained_model_dir, digits,
                                                                                     tmp_path):
    """`negate_layers` negates the stem while building its data: the held-out accuracy the guard keeps is still the
    original model's (it was the negated model's, so any accuracy passed the guard and the rule stopped at once)."""
    from transformers import AutoModelForImageClassification

    from hf_unlearn.methods.negate_layers import negate_parameters
    from hf_unlearn.stopping import _accuracy

    evaluation, holdout = split_test(digits)
    config = UnlearningConfig(str(tmp_path / "out"), method="negate_layers", forget_fraction=0.1, num_train_epochs=1,
                              learning_rate=0.01, stop_when="indistinguishable", use_cpu=True, report_to="none",
                              disable_tqdm=True, resume=False, eval_retain_samples=100)
    trainer = UnlearningTrainer(trained_model_dir, config, digits["train"], evaluation, holdout_dataset=holdout)
    result = trainer.unlearn()
    original = AutoModelForImageClassification.from_pretrained(trained_model_dir)
    expected = _accuracy(trainer.predict_logits(trainer.stopping.utility, original))
    assert expected > 80 and trainer.method.negated
    assert result.stopping["original_holdout_accuracy"] == pytest.approx(expected)
    negate_parameters(original, [0])  # what the guard measured before: far below, so the test can fail
    assert _accuracy(trainer.predict_logits(trainer.stopping.utility, original)) < expected - 20


def test_the_rule_without_held_out_rows_is_refused_before_any_work(trained_model_dir, digits, tmp_path):
    evaluation, holdout = split_test(digits)
    config = UnlearningConfig(str(tmp_path / "out"), forget_fraction=0.1, stop_when="indistinguishable", use_cpu=True,
                              report_to="none")
    with pytest.raises(OptionError, match="holdout_dataset"):
        UnlearningTrainer(trained_model_dir, config, digits["train"], evaluation)
    with pytest.raises(DataError, match="test split"):
        UnlearningTrainer(trained_model_dir, config, digits["train"], evaluation, holdout_dataset=evaluation)
    with pytest.raises(DataError, match="training or test set"):  # rows the model trained on are not held out
        UnlearningTrainer(trained_model_dir, config, digits["train"], evaluation,
                          holdout_dataset=digits["train"].select(range(100)))
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")


@pytest.mark.parametrize("option, value", [("stop_when", "never"), ("stop_check_steps", 0), ("stop_confidence", 1.0),
                                           ("stop_max_samples", 5), ("stop_accuracy_drop", -1),
                                           ("stop_class_rate", 1.0)])
def test_bad_rule_options_name_the_option(option, value, tmp_path):
    with pytest.raises(OptionError, match=option):
        UnlearningConfig(str(tmp_path), forget_fraction=0.1, **{option: value})


def test_holdout_split_never_the_test_split_and_row_ranges(tmp_path, digits):
    digits["train"].to_parquet(str(tmp_path / "train.parquet"))
    digits["test"].to_parquet(str(tmp_path / "test.parquet"))
    with pytest.raises(UsageError, match="test split"):
        load_holdout(SimpleNamespace(dataset_name=str(tmp_path), test_split="test", holdout_split="test"))
    rows = load_holdout(DataArguments(str(tmp_path), holdout_split="train[100:150]"))
    assert len(rows) == 50 and rows[0]["label"] == digits["train"][100]["label"]
    assert len(load_image_dataset(str(tmp_path), split="train[:10]")) == 10


def test_benchmark_runs_every_variant_with_and_without_the_rule():
    plan = plan_settings({"random": {"forget_fraction": 0.1}}, {"finetune": {"learning_rate": 0.1}}, None, [0],
                         {"stop": {"stop_when": "indistinguishable"}})
    variants = plan["random"].variants
    assert variants["finetune"] == ("finetune", {"learning_rate": 0.1})
    assert variants["finetune_stop"] == ("finetune", {"learning_rate": 0.1, "stop_when": "indistinguishable"})


def test_rule_options_enter_a_benchmark_key_only_with_the_rule(tmp_path):
    """Runs without the rule keep the keys they had before it existed (so they are reused, not rerun)."""
    from hf_unlearn.commands.benchmark_keys import ArtefactKeys

    keys = ArtefactKeys(str(tmp_path), True, print)
    plain = keys.config_identity(UnlearningConfig(str(tmp_path / "a")))
    assert not [k for k in plain if k.startswith("stop_")]
    assert keys.config_identity(UnlearningConfig(str(tmp_path / "a"), stop_max_samples=50)) == plain
    rule = keys.config_identity(UnlearningConfig(str(tmp_path / "a"), stop_when="indistinguishable"))
    assert rule["stop_when"] == "indistinguishable" and rule["stop_max_samples"] == 800


def test_a_sequential_request_watches_every_earlier_forget_set_and_a_class_request_the_class():
    from hf_unlearn.forget import ForgetSet
    from hf_unlearn.stopping import stopping_targets, utility_rows

    labels = np.arange(200) % K
    train = Dataset.from_dict({"label": labels.tolist()})
    holdout = Dataset.from_dict({"label": (np.arange(100) % K).tolist()})
    request = SimpleNamespace(forget_set=ForgetSet.from_indices(list(range(20, 40))),
                              forget_dataset=train.select(range(20, 40)), class_names=None, full_train_dataset=train,
                              forget_indices=np.arange(20, 40),
                              previous_forget_sets=[ForgetSet.from_indices(list(range(10))), ForgetSet.from_classes([3])],
                              previous_indices=[np.arange(10), np.flatnonzero(labels == 3)])
    targets = stopping_targets(request, holdout, limit=1000, seed=0)
    assert [(t.name, t.kind, len(t.rows)) for t in targets] == [("forget", "unseen", 20), ("previous_1", "unseen", 10),
                                                                ("previous_2", "class", 20)]
    assert targets[2].classes == [3] and set(targets[2].holdout["label"]) == {3}
    assert 3 not in set(utility_rows(targets, holdout, 1000, 0)["label"])  # a forgotten class's accuracy may fall
    with pytest.raises(DataError, match="no row of class"):
        stopping_targets(request, holdout.filter(lambda r: r["label"] != 5), limit=1000, seed=0)


def test_a_benchmark_refuses_holdout_split_and_names_holdout_samples(tmp_path):
    from hf_unlearn.commands.benchmark import Benchmark
    from hf_unlearn.commands.benchmark_plan import BenchmarkArguments

    with pytest.raises(ValueError, match="holdout_samples"):
        Benchmark(BenchmarkArguments(dataset_name="d", holdout_split="train[0:5]"), UnlearningConfig(str(tmp_path)))

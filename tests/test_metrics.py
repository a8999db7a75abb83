import numpy as np
import pytest

from hf_unlearn.metrics import available_metrics, load_metric


def test_shipped_metrics_load_offline():
    assert {"accuracy", "mia_score"} <= set(available_metrics())
    with pytest.raises(ValueError, match="Unknown metric"):
        load_metric("bleu")


def test_accuracy():
    assert load_metric("accuracy").compute(predictions=[0, 1, 2, 2], references=[0, 1, 1, 2])["accuracy"] == 0.75


def test_mia_cannot_tell_identical_distributions_apart():
    rng = np.random.default_rng(0)
    losses = rng.exponential(1.0, 2000)
    members = np.r_[np.ones(1000), np.zeros(1000)].astype(int)
    score = load_metric("mia_score").compute(predictions=losses, references=members)["mia_score"]
    assert abs(score - 0.5) < 0.05


def test_mia_separates_separable_losses_and_balances_groups():
    rng = np.random.default_rng(0)
    members_loss = rng.uniform(0.0, 0.1, 200)   # memorised: tiny loss
    test_loss = rng.uniform(1.0, 3.0, 2000)     # unseen: large loss
    result = load_metric("mia_score").compute(predictions=np.r_[members_loss, test_loss],
                                              references=np.r_[np.ones(200), np.zeros(2000)].astype(int))
    assert result["mia_score"] > 0.97
    assert result["mia_num_samples"] == 200  # balanced to the smaller group


def test_mia_overlap_matches_the_bayes_accuracy():
    """N(0,1) vs N(1,1): the best threshold attack scores Phi(0.5) = 0.691."""
    rng = np.random.default_rng(1)
    losses = np.r_[rng.normal(0, 1, 5000), rng.normal(1, 1, 5000)]
    members = np.r_[np.ones(5000), np.zeros(5000)].astype(int)
    score = load_metric("mia_score").compute(predictions=losses, references=members)["mia_score"]
    assert abs(score - 0.691) < 0.03


def test_avg_gap_hand_worked_example():
    from hf_unlearn.evaluation import avg_gap

    reference = {"forget_accuracy": 54.0, "retain_accuracy": 100.0, "test_accuracy": 56.0, "mia_efficacy": 40.0}
    model = {"forget_accuracy": 61.0, "retain_accuracy": 99.0, "test_accuracy": 52.0, "mia_efficacy": 30.0}
    # |61-54| + |99-100| + |52-56| + |30-40| = 7 + 1 + 4 + 10 = 22; / 4 = 5.5
    assert avg_gap(model, reference) == pytest.approx(5.5)
    assert avg_gap(reference, reference) == 0
    with pytest.raises(KeyError, match="mia_efficacy"):
        avg_gap({"forget_accuracy": 1.0, "retain_accuracy": 1.0, "test_accuracy": 1.0}, reference)


def _efficacy(retain, test, forget):
    groups = np.r_[np.ones(len(retain)), np.zeros(len(test)), np.full(len(forget), 2)].astype(int)
    return load_metric("mia_efficacy").compute(predictions=np.r_[retain, test, forget], references=groups)["mia_efficacy"]


def test_mia_efficacy_calls_memorised_forget_samples_members_and_unseen_ones_non_members():
    rng = np.random.default_rng(0)
    retain = rng.uniform(0.95, 1.0, 500)   # memorised: confident
    test = rng.uniform(0.2, 0.7, 500)      # unseen: unsure
    assert _efficacy(retain, test, rng.uniform(0.95, 1.0, 200)) < 5     # forget still memorised
    assert _efficacy(retain, test, rng.uniform(0.2, 0.7, 200)) > 95     # forget looks unseen
    half = np.r_[rng.uniform(0.95, 1.0, 100), rng.uniform(0.2, 0.7, 100)]
    assert 40 < _efficacy(retain, test, half) < 60

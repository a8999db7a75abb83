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

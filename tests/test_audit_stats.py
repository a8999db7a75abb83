"""Attack statistics and reference-model attacks on synthetic scores of known separability."""

import numpy as np
import pytest
from scipy.stats import norm

from hf_unlearn.mia.attacks import lira_scores, logit_confidence, rmia_scores, true_class_probability
from hf_unlearn.mia.stats import attack_stats, bootstrap_attack_stats, tpr_at_fpr


def test_hand_worked_example():
    scores = np.array([0.9, 0.8, 0.3, 0.1])
    members = np.array([1, 0, 1, 0])
    stats = attack_stats(scores, members)
    # member-above-non-member pairs: (0.9 > 0.8), (0.9 > 0.1), (0.3 > 0.1); (0.3 < 0.8): AUC 3/4
    assert stats.auc == pytest.approx(0.75)
    # threshold 0.9: TPR 1/2 at FPR 0; threshold 0.3: TPR 1 at FPR 1/2 -> best (TPR + TNR) / 2 = 0.75
    assert stats.balanced_accuracy == pytest.approx(0.75)
    assert stats.tpr_at_1pct_fpr == pytest.approx(0.5) and stats.tpr_at_01pct_fpr == pytest.approx(0.5)
    assert tpr_at_fpr(scores, members, 0.5) == pytest.approx(1.0)


@pytest.mark.parametrize("shift", [0.0, 1.0, 2.5])
def test_gaussian_scores_match_theory(shift):
    rng = np.random.default_rng(0)
    n = 20000
    scores = np.r_[rng.normal(shift, 1.0, n), rng.normal(0.0, 1.0, n)]
    members = np.r_[np.ones(n), np.zeros(n)]
    stats = attack_stats(scores, members)
    assert stats.auc == pytest.approx(norm.cdf(shift / np.sqrt(2)), abs=0.01)
    assert stats.balanced_accuracy == pytest.approx(norm.cdf(shift / 2), abs=0.01)
    for fpr, value in ((0.01, stats.tpr_at_1pct_fpr), (0.001, stats.tpr_at_01pct_fpr)):
        expected = norm.sf(norm.isf(fpr) - shift)  # threshold at the non-members' (1 - fpr) quantile
        assert value == pytest.approx(expected, abs=0.03 if fpr == 0.01 else 0.05)


def test_bootstrap_interval_covers_the_value_and_shrinks_with_data():
    rng = np.random.default_rng(1)
    widths = []
    for n in (200, 5000):
        scores = np.r_[rng.normal(1.0, 1.0, n), rng.normal(0.0, 1.0, n)]
        members = np.r_[np.ones(n), np.zeros(n)]
        ci = bootstrap_attack_stats(scores, members, n_bootstrap=200, seed=0)
        for stat in ci.values():
            assert stat["low"] <= stat["value"] <= stat["high"]
        assert ci["auc"]["low"] < norm.cdf(1 / np.sqrt(2)) < ci["auc"]["high"]
        widths.append(ci["auc"]["high"] - ci["auc"]["low"])
    assert widths[1] < widths[0] / 3  # ~1/sqrt(25) = 1/5 as wide


def test_interval_covers_chance_for_indistinguishable_groups():
    # a 95% interval must contain the true AUC 0.5 in most repetitions (P(< 15 of 20) is ~3e-4 at 95% coverage)
    covered = 0
    for seed in range(20):
        scores = np.random.default_rng(seed).normal(size=1000)
        ci = bootstrap_attack_stats(scores, np.r_[np.ones(500), np.zeros(500)], n_bootstrap=100, seed=seed)
        covered += ci["auc"]["low"] <= 0.5 <= ci["auc"]["high"]
        assert ci["tpr_at_1pct_fpr"]["value"] < 0.1
    assert covered >= 15


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="both members"):
        attack_stats(np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(ValueError, match="NaN"):
        attack_stats(np.array([np.nan, 0.2]), np.array([1, 0]))


def _difficult_population(seed=0, n=3000, k=16, gap=2.0):
    """Per-sample difficulty varies far more than the membership effect: a global threshold on the target's
    confidence is weak, a per-sample calibration (reference models) is strong."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, 4.0, n)
    members = rng.random(n) < 0.5
    ref_in = rng.random((k, n)) < 0.5
    ref_conf = difficulty[None, :] + gap * ref_in + rng.normal(0.0, 1.0, (k, n))
    target_conf = difficulty + gap * members + rng.normal(0.0, 1.0, n)
    return members, target_conf, ref_conf, ref_in


def test_lira_calibrates_per_sample_difficulty():
    members, target, refs, ref_in = _difficult_population()
    raw = attack_stats(target, members).auc
    online = attack_stats(lira_scores(target, refs, ref_in, online=True), members).auc
    offline = attack_stats(lira_scores(target, refs, ref_in, online=False), members).auc
    ideal = norm.cdf(2.0 / np.sqrt(2))  # two unit Gaussians 2 apart, per sample
    assert raw < 0.7
    assert online == pytest.approx(ideal, abs=0.04) and offline == pytest.approx(ideal, abs=0.04)
    assert attack_stats(lira_scores(target, refs, ref_in), members).tpr_at_1pct_fpr > 5 * attack_stats(
        target, members).tpr_at_1pct_fpr


def test_rmia_calibrates_per_sample_difficulty():
    members, target, refs, ref_in = _difficult_population(seed=3)
    sigmoid = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    population = ~members  # held-out samples serve as the population z
    scores = rmia_scores(sigmoid(target), sigmoid(refs), sigmoid(target[population]), sigmoid(refs[:, population]))
    assert ((scores >= 0) & (scores <= 1)).all()
    assert attack_stats(scores, members).auc > attack_stats(sigmoid(target), members).auc + 0.15
    offline = rmia_scores(sigmoid(target), sigmoid(refs), sigmoid(target[population]), sigmoid(refs[:, population]),
                          ref_in=ref_in, population_ref_in=ref_in[:, population], online=False)
    assert attack_stats(offline, members).auc > 0.7


def test_logit_scaling_matches_its_definition():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 50.0, 0.0]])
    labels = np.array([0, 1])
    p = true_class_probability(logits, labels)
    np.testing.assert_allclose(logit_confidence(logits, labels)[0], np.log(p[0] / (1 - p[0])))
    assert np.isfinite(logit_confidence(logits, labels)[1]) and logit_confidence(logits, labels)[1] > 45  # no overflow


def test_reference_attacks_as_offline_evaluate_modules():
    from hf_unlearn.metrics import load_metric

    members, target, refs, ref_in = _difficult_population(seed=4, n=1000, k=8)
    lira = load_metric("mia_lira").compute(predictions=target, references=members.astype(int),
                                           reference_confidences=refs, reference_in=ref_in, n_bootstrap=50)
    direct = attack_stats(lira_scores(target, refs, ref_in), members)
    assert lira["auc"] == pytest.approx(direct.auc) and lira["auc_low"] <= lira["auc"] <= lira["auc_high"]
    sigmoid = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    population = ~members
    rmia = load_metric("mia_rmia").compute(
        predictions=sigmoid(target), references=members.astype(int), reference_probabilities=sigmoid(refs),
        population_probabilities=sigmoid(target[population]),
        population_reference_probabilities=sigmoid(refs[:, population]), n_bootstrap=50)
    assert rmia["auc"] > 0.7 and rmia["tpr_at_1pct_fpr_low"] <= rmia["tpr_at_1pct_fpr"]


def test_attack_features_match_hand_computed_values():
    from hf_unlearn.mia.attacks import attack_feature

    probs = np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.7, 0.2, 0.1, 0.0]])
    labels = np.array([0, 0, 1])
    np.testing.assert_allclose(attack_feature(probs, labels, "confidence"), [0.25, 1.0, 0.2])
    entropy = attack_feature(probs, labels, "entropy")
    assert entropy[0] == pytest.approx(np.log(4)) and entropy[1] == pytest.approx(0, abs=1e-12)
    assert entropy[2] == pytest.approx(-(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1)))
    m_entropy = attack_feature(probs, labels, "modified_entropy")
    # uniform: -(0.75) log 0.25 - 3 * 0.25 log 0.75; certain and right: 0; sample 3 (true class 1, p_y = 0.2):
    assert m_entropy[0] == pytest.approx(-0.75 * np.log(0.25) - 3 * 0.25 * np.log(0.75))
    assert m_entropy[1] == pytest.approx(0, abs=1e-12)
    assert m_entropy[2] == pytest.approx(-0.8 * np.log(0.2) - 0.7 * np.log(0.3) - 0.1 * np.log(0.9))
    with pytest.raises(ValueError, match="modified_entropy"):
        attack_feature(probs, labels, "margin")


@pytest.mark.parametrize("shift", [0.0, 1.5])
def test_svc_attack_matches_the_bayes_boundary_on_gaussian_features(shift):
    """Members ~ N(shift, 1), non-members ~ N(0, 1): the best boundary is shift / 2, so an audited member is
    called a non-member with probability Phi(-shift / 2) and the balanced accuracy is Phi(shift / 2). The RBF
    decision function flattens far from the data, so it ranks a little worse than the feature itself (whose
    AUC is Phi(shift / sqrt 2)), never better."""
    from hf_unlearn.mia.attacks import svc_attack_scores

    rng = np.random.default_rng(2)
    known_members, known_nonmembers = rng.normal(shift, 1, 2000), rng.normal(0, 1, 2000)
    audited = np.r_[rng.normal(shift, 1, 3000), rng.normal(0, 1, 3000)]
    members = np.r_[np.ones(3000), np.zeros(3000)].astype(bool)
    scores = svc_attack_scores(known_members, known_nonmembers, audited, seed=0)
    called_nonmember = 100 * np.mean(scores[members] <= 0)
    if shift:
        assert called_nonmember == pytest.approx(100 * norm.cdf(-shift / 2), abs=4)
        stats = attack_stats(scores, members)
        assert stats.balanced_accuracy == pytest.approx(norm.cdf(shift / 2), abs=0.02)
        assert 0.75 < stats.auc <= norm.cdf(shift / np.sqrt(2)) + 0.01
    else:  # nothing to learn: chance, whatever side the SVC leans to
        assert attack_stats(scores, members).auc == pytest.approx(0.5, abs=0.03)


def test_mia_efficacy_module_takes_any_attack_feature():
    from hf_unlearn.metrics import load_metric
    from hf_unlearn.mia.attacks import attack_feature

    rng = np.random.default_rng(3)

    def probabilities(n, peak):  # 10 classes, true class 0 gets `peak` of the mass
        rest = rng.dirichlet(np.ones(9), n) * (1 - peak)[:, None]
        return np.c_[peak, rest]

    retain, test = probabilities(800, rng.uniform(0.9, 1.0, 800)), probabilities(800, rng.uniform(0.1, 0.6, 800))
    forgotten, memorised = probabilities(200, rng.uniform(0.1, 0.6, 200)), probabilities(200, rng.uniform(0.9, 1.0, 200))
    groups = np.r_[np.ones(800), np.zeros(800), np.full(200, 2)].astype(int)
    metric = load_metric("mia_efficacy")
    for feature in ("confidence", "entropy", "modified_entropy"):
        def efficacy(forget, feature=feature):
            values = [attack_feature(p, np.zeros(len(p), int), feature) for p in (retain, test, forget)]
            return metric.compute(predictions=np.concatenate(values), references=groups)["mia_efficacy"]

        assert efficacy(forgotten) > 80, feature
        assert efficacy(memorised) < 20, feature

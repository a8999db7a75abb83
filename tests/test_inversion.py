import numpy as np
import pytest
from datasets import ClassLabel, Dataset, Features, Image, Value
from PIL import Image as PILImage

from hf_unlearn.synthesis import combine_sources, invert_labels, with_source

LABELS = np.arange(10).repeat(3)


def test_complement_is_k_minus_1_minus_y():
    assert invert_labels(LABELS, 10, "complement").tolist() == (9 - LABELS).tolist()


def test_complement_never_keeps_the_label_for_odd_k():
    inverted = invert_labels(np.array([0, 1, 2]), 3, "complement")
    assert inverted.tolist() == [2, 2, 0]  # class 1 would map to itself; it moves to (1+1) mod 3


def test_random_other_is_valid_different_and_seeded():
    a = invert_labels(LABELS, 10, "random_other", seed=0)
    assert np.all(a != LABELS) and a.min() >= 0 and a.max() <= 9
    assert a.tolist() == invert_labels(LABELS, 10, "random_other", seed=0).tolist()
    assert a.tolist() != invert_labels(LABELS, 10, "random_other", seed=1).tolist()
    assert len(set(a.tolist())) > 5  # spread over classes, not a fixed shift


def test_least_likely_picks_the_lowest_probability_other_class():
    probs = np.array([[0.1, 0.6, 0.3], [0.05, 0.9, 0.05], [0.7, 0.2, 0.1]])
    labels = np.array([1, 0, 2])
    # row 0: least likely is 0; row 1: least likely is 0 but that is y, so 2; row 2: least is y=2, so 1
    assert invert_labels(labels, 3, "least_likely", probs).tolist() == [0, 2, 1]


def test_unknown_strategy_and_missing_probabilities():
    with pytest.raises(ValueError, match="Unknown label inversion"):
        invert_labels(LABELS, 10, "flip")
    with pytest.raises(ValueError, match="probabilities"):
        invert_labels(LABELS, 10, "least_likely")


def _tiny(labels):
    images = [PILImage.new("L", (8, 8), color=int(i)) for i in range(len(labels))]
    return Dataset.from_dict({"image": images, "label": labels},
                             features=Features({"image": Image(), "label": ClassLabel(num_classes=10)}))


def test_combined_dataset_sources_and_labels():
    retain, forget = _tiny([1, 2, 3]), _tiny([4, 5])
    combined = combine_sources({
        "retain": with_source(retain, "retain"),
        "forget": with_source(forget, "forget", invert_labels(np.array([4, 5]), 10)),
    })
    assert combined["source"] == ["retain"] * 3 + ["forget"] * 2
    assert combined["label"] == [1, 2, 3, 5, 4]
    assert combined["original_label"] == [1, 2, 3, 4, 5]
    assert combined.features["label"] == Value("int64")
    with pytest.raises(ValueError, match="Unknown source"):
        with_source(retain, "other")


def test_a_registered_inversion_is_accepted_by_the_config(tmp_path):
    """`method_args.label_inversion` is checked against the registry, so a strategy registered by the user is a
    valid option (and an unknown one is refused, naming the registered ones)."""
    from hf_unlearn import UnlearningConfig
    from hf_unlearn.synthesis import _INVERSIONS, register_inversion

    @register_inversion("next_class_for_test")
    def next_class(labels, num_classes, probs, rng):
        return (labels + 1) % num_classes

    try:
        config = UnlearningConfig(str(tmp_path), method_args={"label_inversion": "next_class_for_test"},
                                  forget_fraction=0.1)
        assert config.method_options.label_inversion == "next_class_for_test"
        assert invert_labels(np.array([0, 9]), 10, "next_class_for_test").tolist() == [1, 0]
    finally:
        _INVERSIONS.pop("next_class_for_test")
    with pytest.raises(ValueError, match="is not one of complement, least_likely, random_other"):
        UnlearningConfig(str(tmp_path), method_args={"label_inversion": "next_class_for_test"}, forget_fraction=0.1)

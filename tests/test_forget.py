import numpy as np
import pytest

from hf_unlearn import ForgetSet, ForgetSetError, UnlearningConfig

LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
NAMES = ["cat", "dog", "ship"]


def test_indices_split_is_a_partition():
    retain, forget = ForgetSet.from_indices([7, 2, 5]).split(10, LABELS, NAMES)
    assert forget.tolist() == [2, 5, 7]
    assert sorted(retain.tolist() + forget.tolist()) == list(range(10))


def test_classes_by_name_and_by_id_agree():
    by_name = ForgetSet.from_classes(["dog"]).forget_indices(10, LABELS, NAMES)
    by_id = ForgetSet.from_classes([1]).forget_indices(10, LABELS, NAMES)
    assert by_name.tolist() == by_id.tolist() == [1, 4, 7]


def test_random_fraction_is_seeded():
    a = ForgetSet.random_fraction(0.3, seed=1).forget_indices(100)
    b = ForgetSet.random_fraction(0.3, seed=1).forget_indices(100)
    c = ForgetSet.random_fraction(0.3, seed=2).forget_indices(100)
    assert len(a) == 30 and a.tolist() == b.tolist() and a.tolist() != c.tolist()


@pytest.mark.parametrize(
    "forget_set, message",
    [
        (ForgetSet.from_indices([]), "empty"),
        (ForgetSet.from_indices([3, 10]), "out of range"),
        (ForgetSet.from_indices([-1]), "out of range"),
        (ForgetSet.from_indices(list(range(10))), "all 10 training rows"),
        (ForgetSet.from_classes(["cat", "dog", "ship"]), "all 10 training rows"),
        (ForgetSet.from_classes(["horse"]), "Unknown class 'horse'"),
        (ForgetSet.from_classes([3]), "out of range"),
    ],
)
def test_invalid_forget_sets_are_refused_with_a_reason(forget_set, message):
    with pytest.raises(ForgetSetError, match=message):
        forget_set.split(10, LABELS, NAMES)


def test_duplicate_and_non_integer_indices_are_refused():
    with pytest.raises(ForgetSetError, match="duplicates"):
        ForgetSet.from_indices([1, 1, 2])
    with pytest.raises(ForgetSetError, match="not an integer"):
        ForgetSet.from_indices([1, "two"])
    with pytest.raises(ForgetSetError, match="not an integer"):
        ForgetSet.from_indices([1.5])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_fraction_must_be_strictly_between_0_and_1(fraction):
    with pytest.raises(ForgetSetError, match="strictly between 0 and 1"):
        ForgetSet.random_fraction(fraction)


def test_spec_round_trip_and_hash():
    fs = ForgetSet.random_fraction(0.1, seed=3)
    again = ForgetSet.from_dict(fs.to_dict())
    assert again == fs and again.spec_hash() == fs.spec_hash()
    assert ForgetSet.random_fraction(0.1, seed=4).spec_hash() != fs.spec_hash()
    assert len(fs.spec_hash()) == 64


def test_config_accepts_one_forget_option_only(tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        UnlearningConfig(str(tmp_path), forget_fraction=0.1, forget_classes=["3"])
    config = UnlearningConfig(str(tmp_path), forget_classes=["3"])
    assert ForgetSet.from_config(config) == ForgetSet.from_classes(["3"])
    with pytest.raises(ForgetSetError, match="No forget set"):
        ForgetSet.from_config(UnlearningConfig(str(tmp_path)))

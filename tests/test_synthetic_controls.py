"""Multi-GAN's controls (issue 31): `method_args.synthetic_source: holdout` (real images no model trained on, an
oracle generator) and `noise` take the generators' place, labelled by the original model alike, train no GAN,
and the quality figure tells them apart. Refusals come before any training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasets import concatenate_datasets
from transformers import AutoModelForImageClassification

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.data import images_to_dataset
from hf_unlearn.evaluation import predict
from hf_unlearn.options import OptionError
from hf_unlearn.synthesis import drop_contradictions, image_digest

TINY = {"num_train_epochs": 1, "learning_rate": 0.01, "per_device_train_batch_size": 64, "eval_retain_samples": 200,
        "logging_steps": 1000, "use_cpu": True, "disable_tqdm": True, "seed": 0}


def _png(image) -> bytes:
    return np.asarray(image).tobytes()


def _run(tmp_path, model_dir, digits, source, holdout=None, **overrides):
    method_args = {"synthetic_source": source, "num_synthetic_retain": 60, "num_synthetic_forget": 40,
                   **overrides.pop("method_args", {})}
    config = UnlearningConfig(str(tmp_path / source), **{**TINY, **overrides}, method_args=method_args)
    trainer = UnlearningTrainer(model=model_dir, args=config, train_dataset=digits["train"],
                                eval_dataset=digits["test"].select(range(180)), holdout_dataset=holdout)
    return trainer, trainer.unlearn()


@pytest.fixture(scope="module")
def holdout(digits):
    return digits["test"].select(range(180, 360))


@pytest.fixture(scope="module")
def oracle(tmp_path_factory, trained_model_dir, digits, holdout):
    return _run(tmp_path_factory.mktemp("oracle"), trained_model_dir, digits, "holdout", holdout,
                forget_fraction=0.1)


@pytest.fixture(scope="module")
def noise(tmp_path_factory, trained_model_dir, digits):
    return _run(tmp_path_factory.mktemp("noise"), trained_model_dir, digits, "noise", forget_fraction=0.1)


def _synthetic(trainer, part):
    combined = trainer.combined_dataset
    return combined.select(np.flatnonzero(np.asarray(combined["source"]) == part))


def test_holdout_images_are_the_held_out_rows_disjoint_and_labelled_by_the_original(oracle, holdout,
                                                                                    trained_model_dir):
    trainer, result = oracle
    held = {_png(img): i for i, img in enumerate(holdout["image"])}
    retain, forget = _synthetic(trainer, "synthetic_retain"), _synthetic(trainer, "synthetic_forget")
    assert (len(retain), len(forget)) == (60, 40)
    rows = [[held[_png(img)] for img in part["image"]] for part in (retain, forget)]  # KeyError: not a held-out row
    assert len(set(rows[0]) | set(rows[1])) == 100  # no held-out row used twice
    original = AutoModelForImageClassification.from_pretrained(trained_model_dir)
    labels = predict(original, holdout.select(rows[1]).remove_columns("label"), trainer.transform, trainer.args).predicted
    assert np.array_equal(np.asarray(forget["original_label"]), labels)
    assert np.array_equal(np.asarray(forget["label"]), 9 - labels)  # inverted like a synthetic forget image
    assert not (Path(trainer.args.output_dir) / "generators" / "retain").exists()  # no GAN trained
    assert not any(phase.startswith("gan_") for phase in result.timings)


def test_noise_images_are_noise_and_the_quality_figure_separates_the_controls(oracle, noise):
    trainer, result = noise
    images = np.stack([np.asarray(img, dtype=np.float64) for img in _synthetic(trainer, "synthetic_retain")["image"]])
    assert images.shape[1:] == (8, 8) and images.std() > 60  # uniform pixels, not digits
    oracle_figure, noise_figure = oracle[1].synthetic["sources"], result.synthetic["sources"]
    assert oracle_figure["synthetic_retain"]["kid"] < noise_figure["synthetic_retain"]["kid"]
    assert oracle_figure["synthetic_retain"]["precision"] > noise_figure["synthetic_retain"]["precision"]
    # the noise control scores like the noise reference of the same run
    assert noise_figure["synthetic_retain"]["kid"] > 10 * max(oracle_figure["real_retain"]["kid"], 1e-3)


def test_holdout_on_a_class_request_sorts_rows_by_the_originals_prediction(tmp_path, trained_model_dir, digits,
                                                                           holdout):
    trainer, _ = _run(tmp_path, trained_model_dir, digits, "holdout", holdout, forget_classes=["3"],
                      method_args={"num_synthetic_retain": 50, "num_synthetic_forget": 10})
    forget, retain = _synthetic(trainer, "synthetic_forget"), _synthetic(trainer, "synthetic_retain")
    assert 0 < len(forget) <= 10 and len(retain) == 50
    assert set(np.asarray(forget["original_label"]).tolist()) == {3}
    assert 3 not in set(np.asarray(retain["original_label"]).tolist())


@pytest.mark.parametrize("holdout_rows, message", [(None, "none were given"), (20, "only 20 were given")])
def test_holdout_without_enough_rows_is_refused_before_training(tmp_path, trained_model_dir, digits, holdout_rows,
                                                                 message):
    held = None if holdout_rows is None else digits["test"].select(range(340, 340 + holdout_rows))
    with pytest.raises(OptionError, match=f"synthetic_source = 'holdout' draws 100 images .*{message}"):
        _run(tmp_path, trained_model_dir, digits, "holdout", held, forget_fraction=0.1)
    assert not (tmp_path / "holdout" / "model.safetensors").exists()


def test_a_control_with_a_generator_path_is_refused():
    with pytest.raises(OptionError, match="synthetic_source = 'noise' takes no generator.*prepared_path"):
        UnlearningConfig("unused", forget_fraction=0.1, method_args={"synthetic_source": "noise",
                                                                    "prepared_path": "prepared/"})
    with pytest.raises(OptionError, match="method_args.synthetic_source"):
        UnlearningConfig("unused", forget_fraction=0.1, method_args={"synthetic_source": "diffusion"})


def test_no_synthetic_image_is_fed_with_a_label_and_its_inversion(tmp_path, trained_model_dir, digits):
    """Held-out rows that repeat images: a synthetic forget image equal to a synthetic retain one is dropped."""
    held = concatenate_datasets([digits["test"].select(range(180, 230))] * 3)  # 50 images, each three times
    trainer, _ = _run(tmp_path, trained_model_dir, digits, "holdout", held, forget_fraction=0.1)
    retain = {image_digest(img) for img in _synthetic(trainer, "synthetic_retain")["image"]}
    forget = [image_digest(img) for img in _synthetic(trainer, "synthetic_forget")["image"]]
    assert len(retain) < 60 and 0 < len(forget) < 40 and not retain.intersection(forget)
    written = json.loads((Path(trainer.args.output_dir) / "generators" / "synthesis.json").read_text())
    assert written["counts"]["contradictions_dropped"] == 40 - len(forget)
    assert written["source"] == "holdout"


def test_drop_contradictions_keeps_parts_without_any():
    from PIL import Image

    def images(values):
        return images_to_dataset([Image.new("L", (4, 4), v) for v in values], np.zeros(len(values), dtype=np.int64))

    parts = {"synthetic_retain": images([1, 2, 3]), "synthetic_forget": images([4, 5])}
    same, dropped = drop_contradictions(parts)
    assert dropped == 0 and same is parts
    parts["synthetic_forget"] = images([2, 4, 3, 3])
    kept, dropped = drop_contradictions(parts)
    assert dropped == 3 and [img.getpixel((0, 0)) for img in kept["synthetic_forget"]["image"]] == [4]


def test_the_source_stays_out_of_benchmark_keys_at_its_default(tmp_path):
    from hf_unlearn.commands.benchmark_keys import ArtefactKeys
    from hf_unlearn.methods import get_method

    keys = ArtefactKeys(str(tmp_path), True, print)
    plain = keys.config_identity(UnlearningConfig(str(tmp_path / "a"), forget_fraction=0.1))
    noise = keys.config_identity(UnlearningConfig(str(tmp_path / "a"), forget_fraction=0.1,
                                                  method_args={"synthetic_source": "noise"}))
    assert "synthetic_source" not in json.dumps(plain) and noise["method_args"] == {"synthetic_source": "noise"}
    multigan = get_method("multigan")
    assert multigan.reads_holdout(UnlearningConfig("x", method_args={"synthetic_source": "holdout"}).method_options)
    assert not multigan.reads_holdout(UnlearningConfig("x").method_options)
    assert not get_method("finetune").reads_holdout(None)

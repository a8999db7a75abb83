"""`hf-unlearn prepare` / `prepare_generator`: a generator trained once per model and training set, reused by
every Multi-GAN request (no GAN trained from scratch), refused for other data or another model, and never
published with a model that forgot rows it saw."""

import json

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoImageProcessor, AutoModelForImageClassification

from hf_unlearn import UnlearningConfig, UnlearningTrainer, load_preparation, prepare_generator
from hf_unlearn.cli import main
from hf_unlearn.options import OptionError
from hf_unlearn.safety import weights_digest

GAN = {"gan": {"generator_channels": 8, "discriminator_channels": 8, "epochs": 1, "min_steps": 20, "batch_size": 64}}


def request_config(out, prepared, **changes):
    options = {"seed": 0, "use_cpu": True, "disable_tqdm": True, "num_train_epochs": 1, "learning_rate": 0.01,
               "per_device_train_batch_size": 32, "eval_retain_samples": 200, "logging_steps": 1000,
               "method_args": {"num_synthetic_retain": 64, "num_synthetic_forget": 64, "prepared_path": str(prepared),
                               "adapt_steps": 5, **GAN}, **changes}
    return UnlearningConfig(str(out), **options)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, trained_model_dir, digits):
    out = tmp_path_factory.mktemp("prepared") / "generator"
    model = AutoModelForImageClassification.from_pretrained(trained_model_dir)
    config = UnlearningConfig(str(out), use_cpu=True, disable_tqdm=True, seed=0, method_args=GAN)
    return prepare_generator(model, config, digits["train"], str(out), model_source=trained_model_dir)


def test_preparation_records_what_it_was_trained_on(prepared, trained_model_dir, digits):
    again = load_preparation(prepared.path)
    record = again.record
    assert record == prepared.record
    assert record["num_rows"] == record["num_train"] == len(digits["train"])
    assert np.array_equal(again.rows, np.arange(len(digits["train"])))
    model = AutoModelForImageClassification.from_pretrained(trained_model_dir)
    assert record["model_sha256"] == weights_digest(model)
    assert (record["resolution"], record["channels"], record["mode"], record["image_size"]) == (8, 1, "L", [8, 8])
    assert record["preparation_s"] > 0 and record["settings"]["min_steps"] == 20
    assert again.generator().config.resolution == 8 and again.discriminator().config.num_channels == 1


@pytest.mark.parametrize("forget", [{"forget_fraction": 0.1}, {"forget_classes": ["3"]}])
def test_a_request_on_a_preparation_trains_no_gan_from_scratch(prepared, trained_model_dir, digits, tmp_path,
                                                               capsys, forget):
    config = request_config(tmp_path / "out", prepared.path, **forget)
    trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"],
                                eval_dataset=digits["test"])
    result = trainer.unlearn()
    log = capsys.readouterr().out
    assert result.timings["gan_retain"] == 0.0 and f"gan_retain: 0.0s (prepared={prepared.path})" in log
    counts = result.counts
    assert counts["finetune_synthetic_retain"] == 64 and counts["prepared_rows"] == len(digits["train"])
    assert counts["prepared_seen_forget"] == counts["forget"]  # prepared on every row: it saw the forget set
    if "forget_classes" in forget:  # synthetic forget images: prepared samples the original model calls a 3
        assert "gan_forget" not in result.timings
        combined = trainer.combined_dataset
        rows = np.asarray(combined["source"]) == "synthetic_forget"
        assert np.all(np.asarray(combined["original_label"])[rows] == 3)
        assert np.all(np.asarray(combined["original_label"])[np.asarray(combined["source"]) == "synthetic_retain"] != 3)
    else:  # adapted from the prepared pair for gan_adapt_steps steps, not trained from scratch
        assert f"(images={counts['forget']}, adapted_from={prepared.path}, steps=5)" in log
        assert counts["finetune_synthetic_forget"] == 64
    # the published folder holds no generator that saw the forgotten rows, and no samples of one
    out = tmp_path / "out"
    assert not (out / "generators" / "retain").exists()
    assert not (out / "evidence" / "synthetic_samples.png").exists()
    card = (out / "README.md").read_text()
    assert "prepared once" in card and "neither it nor its samples are published" in card


def test_a_preparation_made_after_a_request_never_saw_its_rows(prepared, trained_model_dir, digits, tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    (first / "forget_set.json").write_text(json.dumps({"kind": "classes", "classes": ["3"]}))
    model = AutoModelForImageClassification.from_pretrained(trained_model_dir)
    config = UnlearningConfig(str(tmp_path / "p2"), use_cpu=True, disable_tqdm=True, seed=0,
                              previous_forget_sets=[str(first)], method_args=GAN)
    later = prepare_generator(model, config, digits["train"], str(tmp_path / "p2"))
    labels = np.asarray(digits["train"]["label"])
    assert later.record["num_rows"] == int((labels != 3).sum()) and later.seen(np.flatnonzero(labels == 3)) == 0
    assert len(later.record["excluded_forget_sets"]) == 1


def test_a_preparation_for_other_data_or_another_model_is_refused(prepared, trained_model_dir, digits, tmp_path):
    other_data = digits["train"].select(range(1000))
    config = request_config(tmp_path / "a", prepared.path, forget_classes=["3"])
    with pytest.raises(OptionError, match=r"method_args.prepared_path = .* was prepared on other training data"):
        UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=other_data)
    model = AutoModelForImageClassification.from_pretrained(trained_model_dir)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # another model: same architecture, other weights
    with pytest.raises(OptionError, match=r"was prepared for another model \(weights sha256"):
        UnlearningTrainer(model=model, args=request_config(tmp_path / "b", prepared.path, forget_classes=["3"]),
                          train_dataset=digits["train"],
                          processing_class=AutoImageProcessor.from_pretrained(trained_model_dir))
    with pytest.raises(OptionError, match="holds no prepared generator"):
        UnlearningTrainer(model=trained_model_dir, args=request_config(tmp_path / "c", tmp_path, forget_classes=["3"]),
                          train_dataset=digits["train"])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before any work


def test_prepare_command_writes_where_requests_read(trained_model_dir, digits, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    digits["train"].to_parquet(str(data / "train.parquet"))
    digits["test"].to_parquet(str(data / "test.parquet"))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"model_name_or_path": trained_model_dir, "dataset_name": str(data),
                                      "output_dir": str(tmp_path / "run"), "use_cpu": True, "disable_tqdm": True,
                                      "method_args": {"prepared_path": str(tmp_path / "prepared"), **GAN}}))
    assert main(["prepare", str(recipe)]) == 0
    record = load_preparation(str(tmp_path / "prepared")).record
    assert record["command"].startswith("hf-unlearn prepare")
    quality = record["quality"]["sources"]  # the generator's quality figure, in the model's own feature space
    assert set(quality) == {"prepared", "real_retain", "noise"} and quality["prepared"]["against"] == "train"
    assert quality["prepared"]["num_generated"] == 1000 and sum(quality["prepared"]["class_counts"]) == 1000
    assert quality["real_retain"]["kid"] < quality["noise"]["kid"]
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    # the old top-level name on the command line still works (one release, with a FutureWarning)
    with pytest.warns(FutureWarning, match="prepared_generator_path -> method_args.prepared_path"):
        assert main(["prepare", str(recipe), "--prepared_generator_path", str(tmp_path / "busy")]) == 2
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"  # a folder with other files is never replaced


def test_a_fine_tuning_budget_that_scales_with_the_forget_set(trained_model_dir, digits, tmp_path):
    config = UnlearningConfig(str(tmp_path / "out"), forget_fraction=0.05, method="finetune", use_cpu=True,
                              retain_samples_per_forget=2.5)
    trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"])
    forget = len(trainer.forget_dataset)
    assert len(trainer.retain_train_dataset()) == int(np.ceil(2.5 * forget))
    with pytest.raises(OptionError, match="num_retain_samples = 100 and retain_samples_per_forget = 2 are both set"):
        UnlearningConfig(str(tmp_path / "x"), num_retain_samples=100, retain_samples_per_forget=2)


def test_options_added_later_stay_out_of_benchmark_keys_at_their_defaults(tmp_path):
    from hf_unlearn.commands.benchmark_keys import KEYED_WHEN_SET, ArtefactKeys
    from hf_unlearn.methods.multigan_options import LEGACY_OPTIONS, MultiGANOptions, legacy_values

    keys = ArtefactKeys(str(tmp_path), True, print)
    plain = keys.config_identity(UnlearningConfig(str(tmp_path / "a")))
    assert not set(KEYED_WHEN_SET) & set(plain)  # runs keyed before these options existed keep their keys
    for option, value in (("retain_samples_per_forget", 2.0),):
        changed = keys.config_identity(UnlearningConfig(str(tmp_path / "a"), **{option: value}))
        assert changed[option] == value and {k: v for k, v in changed.items() if k != option} == plain
    defaults = {**legacy_values(MultiGANOptions()), **vars(UnlearningConfig(str(tmp_path / "a")))}
    for option, value in KEYED_WHEN_SET.items():  # the value a key without the option means: its first default
        assert option in plain_fields() | set(LEGACY_OPTIONS) and (value == defaults[option]
                                                                   or option == "gan_adapt_steps")  # 100, then 25
    # adapt_steps only acts with a preparation: out of a key without one, whatever its value
    assert keys.config_identity(UnlearningConfig(str(tmp_path / "a"), method_args={"adapt_steps": 7})) == plain
    prepared = keys.config_identity(UnlearningConfig(str(tmp_path / "a"), method_args={"prepared_path": "p"}))
    assert prepared["gan_adapt_steps"] == 25 and prepared["prepared_generator_path"] == "p"  # the old layout
    at_first_default = keys.config_identity(UnlearningConfig(str(tmp_path / "a"), method_args={
        "prepared_path": "p", "adapt_steps": 100}))
    assert "gan_adapt_steps" not in at_first_default  # as keyed before the default moved: those runs stay valid


def plain_fields():
    import dataclasses

    return {f.name for f in dataclasses.fields(UnlearningConfig)}


def test_a_preparation_is_pushed_beside_its_model_and_nothing_else(prepared, tmp_path):
    from hf_unlearn.publish import PREPARED_DIR, push_preparation
    from tests.test_publish import LocalHub

    hub = LocalHub(tmp_path / "hub")
    (tmp_path / "extra").mkdir()
    push_preparation(prepared.path, "org/model", api=hub)
    pushed = hub.pushed("org/model")
    assert f"{PREPARED_DIR}/preparation.json" in pushed and f"{PREPARED_DIR}/rows.npy" in pushed
    assert f"{PREPARED_DIR}/generator/config.json" in pushed and f"{PREPARED_DIR}/discriminator/config.json" in pushed
    assert all(p.startswith(f"{PREPARED_DIR}/") for p in pushed)  # nothing outside its folder
    with pytest.raises(OptionError, match="holds no prepared generator"):  # refused before anything is created
        push_preparation(str(tmp_path / "extra"), "org/other", api=hub)
    assert hub.pushed("org/other") == set() and ("create_repo", "org/other", None) not in hub.calls


@pytest.mark.parametrize("name", __import__("hf_unlearn.methods", fromlist=["x"]).available_methods())
def test_every_method_declares_what_it_prepares(name):
    """One preparation contract: a method that prepares something implements `prepare` and `load_prepared` and
    reads it back through `method_args.prepared_path` (one name across methods); the others refuse."""
    import dataclasses

    from hf_unlearn.methods import get_method
    from hf_unlearn.methods.base import UnlearningMethod

    cls = get_method(name)
    if cls.prepares is None:
        with pytest.raises(NotImplementedError, match="nothing to prepare"):
            cls.prepare(None, None, None, "x", model_source=None, dataset_name=None, command=None, log=None)
        return
    assert cls.prepare.__func__ is not UnlearningMethod.prepare.__func__
    assert cls.load_prepared.__func__ is not UnlearningMethod.load_prepared.__func__
    assert "prepared_path" in {f.name for f in dataclasses.fields(cls.Options)}


def test_prepare_refuses_a_method_with_nothing_to_prepare_before_any_work(tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"model_name_or_path": str(tmp_path / "no-model"), "dataset_name": "nowhere",
                                      "output_dir": str(tmp_path / "run"), "method": "salun"}))
    assert main(["prepare", str(recipe)]) == 2
    assert "method 'salun' has nothing to prepare" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()

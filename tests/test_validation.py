"""Validation before any work (issue 13): every option is typed and range-checked when the config is built,
labels are class ids in one class space shared by model, training and evaluation data, the output folder is
kept apart from the inputs, a checkpoint of another request is never resumed, and the command line reports
all of it (and Ctrl-C / SIGTERM, and an unreachable Hub) in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from datasets import ClassLabel, DatasetDict, Value

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.errors import DataError, HubError, UnsafeInputError
from hf_unlearn.options import OptionError

from .conftest import make_tiny_model


@pytest.mark.parametrize("options, message", [
    (dict(learning_rate=-0.1), r"learning_rate = -0.1 is out of range: it must be > 0 \(e.g. learning_rate: 0.05\)"),
    (dict(learning_rate="fast"), r"learning_rate = 'fast' \(str\) is not a valid float; e.g. learning_rate: 0.05"),
    (dict(learning_rate=float("nan")), r"learning_rate = nan is out of range"),
    (dict(per_device_train_batch_size=0), r"per_device_train_batch_size = 0 is out of range: it must be >= 1"),
    (dict(num_train_epochs=0), r"num_train_epochs = 0 fine-tunes for no step: nothing would be unlearned"),
    (dict(seed=1.5), r"seed = 1.5 \(float\) is not a valid int"),
    (dict(use_peft="maybe"), r"use_peft = 'maybe' \(str\) is not a valid bool"),
    (dict(method_args={"gan": {"beta1": 1.0}}), r"method_args.gan.beta1 = 1.0 is out of range: it must be in \[0, 1\)"),
    (dict(method_args={"gan": {"batch_size": 1}}), r"method_args.gan.batch_size = 1 is out of range: it must be >= 2"),
    (dict(eval_retain_samples=0), r"eval_retain_samples = 0 is out of range"),
    (dict(method_args={"resolution": 12}), r"method_args.resolution = 12 is out of range: it must be a power of two"),
    (dict(method="neggrad_plus", method_args={"retain_weight": "most"}),
     r"method_args.retain_weight = 'most' \(str\) is not a valid float; e.g. method_args.retain_weight: 0.99"),
    (dict(method="salun", method_args={"mask_ratio": 2}), r"method_args.mask_ratio = 2 is out of range: it must be in \(0, 1\]"),
    (dict(method="scrub", method_args="{not json"), r"method_args = '\{not json' is not a mapping"),
    (dict(method="negate_layers", method_args={"parameter_indices": [0, 0]}),
     r"method_args.parameter_indices = \[0, 0\] is out of range: it must be a non-empty list of distinct indices"),
    (dict(method="random_label", method_args={"passes": "zigzag"}),
     r"method_args.passes = 'zigzag' is not one of sequential, mixed"),
    (dict(method="amun", method_args={"lr_gamma": 0}), r"method_args.lr_gamma = 0 is out of range: it must be in \(0, 1\]"),
    (dict(method="magic"), r"Unknown unlearning method 'magic'"),
    (dict(training_augmentation="rotate"), r"training_augmentation = 'rotate' is not one of none, flip, crop_flip"),
    (dict(forget_fraction=1.5, forget_classes=None), r"strictly between 0 and 1"),
])
def test_every_option_is_checked_when_the_config_is_built(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        UnlearningConfig(str(tmp_path / "out"), use_cpu=True, **{"forget_classes": ["3"], **options})
    assert not (tmp_path / "out").exists()


def test_numbers_written_as_text_become_numbers():
    """YAML reads `5e-4` as text (it needs a dot to be a float): it is still a learning rate."""
    config = UnlearningConfig("unused", use_cpu=True, learning_rate="5e-4", per_device_train_batch_size="16",
                              forget_classes="3", use_peft="false", method="neggrad_plus",
                              method_args={"retain_weight": "0.9"})
    assert config.learning_rate == 5e-4 and config.per_device_train_batch_size == 16
    assert config.method_options.retain_weight == 0.9
    gan = UnlearningConfig("unused", use_cpu=True, forget_classes="3", method_args={"gan": {"epochs": "3"}})
    assert gan.method_options.gan.epochs == 3.0
    assert config.forget_classes == ["3"] and config.use_peft is False


def test_a_benchmark_override_is_checked_like_the_config():
    from hf_unlearn.commands.benchmark import configure

    base = UnlearningConfig("unused", use_cpu=True)
    assert configure(base, "x", 0, "finetune", {"learning_rate": "1e-2"}).learning_rate == 0.01
    with pytest.raises(OptionError, match="num_train_epochs = -1 is out of range"):
        configure(base, "x", 0, "finetune", {"num_train_epochs": -1})


def _trainer(tmp_path, digits, processor, train=None, test=None, **options):
    config = UnlearningConfig(str(tmp_path / "out"), use_cpu=True, forget_classes=["3"], **options)
    return UnlearningTrainer(model=make_tiny_model(), args=config, processing_class=processor,
                             train_dataset=digits["train"] if train is None else train,
                             eval_dataset=digits["test"] if test is None else test)


@pytest.mark.parametrize("case, message", [
    ("test in another class order", r"(training set|model \(id2label\)) and the evaluation set name different classes "
                                    r"\(the same classes in another order: id 0 is '0' vs '9'\)"),
    ("test with fewer classes", r"10 vs 5 classes; only in the first"),
    ("model names other classes", r"training set and the model \(id2label\) name different classes"),
    ("string labels", r"holds string values .* not class ids: encode it with dataset.class_encode_column\('label'\)"),
    ("fractional labels", r"holds non-integer values \(rows \[0"),
    ("a DatasetDict", r"train_dataset is a DatasetDict \(splits \['train', 'test'\]\): pass one split"),
])
def test_the_label_space_is_checked_before_any_work(tmp_path, digits, processor, case, message):
    names = [str(i) for i in range(10)]
    train, test, model = digits["train"], digits["test"], make_tiny_model()
    if case == "test in another class order":
        test = test.cast_column("label", ClassLabel(names=names[::-1]))
    elif case == "test with fewer classes":
        keep = [i for i, y in enumerate(test["label"]) if y < 5]
        test = test.select(keep).cast_column("label", ClassLabel(names=names[:5]))
    elif case == "model names other classes":
        model.config.id2label = {i: f"digit {i}" for i in range(10)}
    elif case == "string labels":
        train = train.cast_column("label", Value("int64")).map(lambda r: {"label": names[r["label"]]},
                                                              features=None).cast_column("label", Value("string"))
    elif case == "fractional labels":
        train = train.cast_column("label", Value("float64")).map(lambda r: {"label": r["label"] + 0.5})
    elif case == "a DatasetDict":
        train = DatasetDict(digits)
    config = UnlearningConfig(str(tmp_path / "out"), use_cpu=True, forget_classes=["3"])
    with pytest.raises(DataError, match=message):
        UnlearningTrainer(model=model, args=config, processing_class=processor, train_dataset=train, eval_dataset=test)
    assert not (tmp_path / "out").exists()


def test_whole_number_float_labels_are_class_ids(tmp_path, digits, processor):
    train = digits["train"].cast_column("label", Value("float64"))
    trainer = _trainer(tmp_path, digits, processor, train=train)
    assert trainer.forget_dataset.features["label"].dtype == "int64" and len(trainer.forget_dataset) > 0


@pytest.mark.parametrize("where, message", [
    ("model", "is the input model's folder: the original would be overwritten"),
    ("model/unlearned", "lies inside the input model's folder"),
    ("", "contains the input model's folder"),
    ("link-to-model", "is the input model's folder"),
    ("data/out", "lies inside the dataset's folder"),
])
def test_output_dir_is_kept_apart_from_the_inputs(tmp_path, digits, processor, trained_model_dir, where, message):
    import shutil

    from hf_unlearn.safety import folder_digest

    model = tmp_path / "model"
    shutil.copytree(trained_model_dir, model)
    (tmp_path / "data").mkdir()
    os.symlink(model, tmp_path / "link-to-model")
    before = folder_digest(str(model))
    out = tmp_path / where if where else tmp_path
    config = UnlearningConfig(str(out), use_cpu=True, forget_classes=["3"])
    with pytest.raises(UnsafeInputError, match=message):
        UnlearningTrainer(model=str(model), args=config, train_dataset=digits["train"], eval_dataset=digits["test"],
                          dataset_name=str(tmp_path / "data"))
    assert folder_digest(str(model)) == before and not (model / "unlearned").exists()
    assert not (tmp_path / "data" / "out").exists()


def test_a_checkpoint_of_another_request_is_never_resumed(tmp_path):
    from hf_unlearn.resume import CheckpointKeyCallback, checkpoint_key, resumable_checkpoint

    args = UnlearningConfig(str(tmp_path), use_cpu=True, forget_classes=["3"])
    key_of = {"model": "m", "data": "d", "finetune": "f", "forget": "x"}
    first, own, marker = resumable_checkpoint(args, key_of)
    assert first is None and own and isinstance(marker, CheckpointKeyCallback) and marker.key

    def checkpoint(step: int, key: str | None, complete: bool = True) -> None:
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            callbacks = {} if key is None else {"CheckpointKeyCallback": CheckpointKeyCallback(key).state()}
            (folder / "trainer_state.json").write_text(json.dumps({"stateful_callbacks": callbacks}))

    checkpoint(10, marker.key)
    checkpoint(20, "another request's key")  # newer, but of a different run: never resumed
    checkpoint(30, None)  # written by something else (no key)
    checkpoint(40, marker.key, complete=False)  # cut short by a kill before its trainer state
    assert checkpoint_key(str(tmp_path / "checkpoint-20")) == "another request's key"
    resumed, _, _ = resumable_checkpoint(UnlearningConfig(str(tmp_path), use_cpu=True, forget_classes=["3"]), key_of)
    assert resumed == str(tmp_path / "checkpoint-10")
    other, _, _ = resumable_checkpoint(UnlearningConfig(str(tmp_path), use_cpu=True, forget_classes=["3"],
                                                        learning_rate=0.01), key_of)
    assert other is None  # another config: another request


def test_an_unreachable_hub_is_one_line(tmp_path):
    from hf_unlearn.publish import hub_error, push_folder

    class ConnectError(Exception):  # the shape of httpx's: matched by name, whatever the client library
        pass

    class Api:
        def create_repo(self, **kwargs):
            try:
                raise ConnectError("[Errno -2] Name or service not known")
            except ConnectError as inner:
                raise RuntimeError("while creating the repository") from inner

    (tmp_path / "unlearning_results.json").write_text(json.dumps({"metrics": {"unlearned": {}}}))
    for name in ("README.md", "unlearning_report.json", "config.json"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(HubError, match="Could not reach the Hub to push 'me/model'"):
        push_folder(str(tmp_path), "me/model", api=Api())
    assert hub_error(KeyError("x"), "me/model") is None  # anything else propagates as it is


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hf_unlearn.cli", *argv], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_command_line_errors_are_one_line_with_exit_code_2(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"dataset_name": "x", "forget_classes": ["3"]}))
    for argv, message in (
        (["run", str(tmp_path / "none.yaml")], "recipe .*none.yaml does not exist"),
        (["run", str(recipe), "--seed", "x"], r"seed = 'x' \(str\) is not a valid int; e.g. seed: 0"),
        (["run", str(recipe), "--max_steps", "x"], r"argument --max_steps/--max-steps: invalid int value: 'x' \(see `hf-unlearn run --help`\)"),
        (["run", str(recipe), "--learning_rate", "-1"], "learning_rate = -1.0 is out of range"),
        (["run", str(recipe), "--max_train_samples", "0"], "max_train_samples = 0 keeps no rows"),
    ):
        done = _cli(*argv)
        assert done.returncode == 2, (argv, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[0].startswith("hf-unlearn: error:") and "usage:" not in done.stderr
        assert __import__("re").search(message, lines[0]), (argv, lines[0])
    helped = _cli("run", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: hf-unlearn run RECIPE.yaml")


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_ends_in_one_line_with_the_resume_hint(tmp_path, digits, trained_model_dir, sig, code):
    (tmp_path / "data").mkdir()
    digits["train"].to_parquet(str(tmp_path / "data" / "train.parquet"))
    digits["test"].to_parquet(str(tmp_path / "data" / "test.parquet"))
    recipe = tmp_path / "run.yaml"
    recipe.write_text(yaml.safe_dump({
        "dataset_name": str(tmp_path / "data"), "model_name_or_path": trained_model_dir, "forget_classes": ["3"],
        "output_dir": str(tmp_path / "out"), "use_cpu": True, "disable_tqdm": True, "report_to": "none",
        "method_args": {"gan": {"generator_channels": 8, "discriminator_channels": 8, "epochs": 50,
                                "min_steps": 100000}}}))
    # the child starts with SIGINT's default action, as from a terminal: a test runner started as a background job
    # of a non-interactive shell (`pytest &`) ignores SIGINT, the child would inherit that and never see the Ctrl-C
    proc = subprocess.Popen([sys.executable, "-m", "hf_unlearn.cli", "run", str(recipe)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:  # a failing test never leaves its child training (it would slow every later test and timing)
        start = time.monotonic()
        for line in proc.stdout:  # wait until the run is inside GAN training (a long phase)
            if "evaluate_original" in line:
                break
            assert time.monotonic() - start < 300
        time.sleep(2.0)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, err[-3000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith(
        f"hf-unlearn: interrupted ({signal.Signals(sig).name}); run the same command again to resume"), err[-2000:]
    assert not (tmp_path / "out" / "unlearning_results.json").exists()


def test_a_missing_image_is_refused_naming_the_rows(tmp_path, digits, processor):
    """A row without an image (None) or whose file is gone is named before any work, not a raw TypeError /
    FileNotFoundError halfway through."""
    from datasets import Dataset

    rows = list(digits["train"])
    files = []
    for i in (2, 5):
        path = tmp_path / f"img{i}.png"
        rows[i]["image"].save(path)
        files.append(path)
        rows[i]["image"] = str(path)
    rows[7]["image"] = None
    train = Dataset.from_list(rows, features=digits["train"].features)
    files[1].unlink()  # row 5's file disappears after the dataset was built
    config = UnlearningConfig(str(tmp_path / "out"), use_cpu=True, forget_classes=["3"])
    with pytest.raises(DataError, match=r"2 row\(s\) of the training set have no image .*rows \[5, 7\]"):
        UnlearningTrainer(model=make_tiny_model(), args=config, processing_class=processor, train_dataset=train,
                          eval_dataset=digits["test"])
    assert not (tmp_path / "out").exists()


def test_a_retrain_resumes_whatever_model_object_it_was_given(digits, processor, tmp_path, monkeypatch):
    """`retrain` starts from seeded fresh weights: its resume key names those, not the model it was handed (the
    benchmark hands it a throwaway model whose random weights differ from one start to the next)."""
    from transformers import ResNetForImageClassification

    from hf_unlearn import trainer as trainer_module
    from hf_unlearn.commands.quickstart import tiny_resnet_config

    class Stop(Exception):
        pass

    def capture(args, key):
        raise Stop(key)

    monkeypatch.setattr(trainer_module, "resumable_checkpoint", capture)
    keys = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        config = UnlearningConfig(str(tmp_path / f"r{seed}"), method="retrain", forget_classes=["3"], use_cpu=True,
                                  seed=0, num_train_epochs=1, eval_retain_samples=50)
        trainer = UnlearningTrainer(model=ResNetForImageClassification(tiny_resnet_config()), args=config,
                                    train_dataset=digits["train"], processing_class=processor)
        with pytest.raises(Stop) as stopped:
            trainer.unlearn(evaluate_original=False)
        keys.append(stopped.value.args[0])
    assert keys[0] == keys[1] and "reinitialized" in keys[0]["model"]


def test_a_bad_value_is_refused_before_torch_is_even_imported(tmp_path):
    """`hf-unlearn run r.yaml --learning_rate -1` (or the value in the recipe) is checked against the option's
    declaration (config_options.py, its range or its choices) before anything heavy loads: the refusal costs no
    torch import."""
    recipe, bad = tmp_path / "r.yaml", tmp_path / "bad.yaml"
    options = {"dataset_name": "nowhere", "forget_fraction": 0.1, "output_dir": str(tmp_path / "o")}
    recipe.write_text(yaml.safe_dump(options))
    bad.write_text(yaml.safe_dump({**options, "stop_max_samples": 5}))
    code = ("import sys; from hf_unlearn.cli import main; "
            f"rc = [main(['run', {str(recipe)!r}, '--learning_rate', '-1']), main(['run', {str(bad)!r}]), "
            f"main(['run', {str(recipe)!r}, '--training_augmentation', 'rotate'])]; "
            "print(rc, 'torch' in sys.modules, 'transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.stdout.strip() == "[2, 2, 2] False False", done.stdout + done.stderr
    assert "learning_rate = -1.0 is out of range: it must be > 0 (e.g. learning_rate: 0.05)" in done.stderr
    assert "stop_max_samples = 5 is out of range: it must be >= 10" in done.stderr
    assert "training_augmentation = 'rotate' is not one of none, flip, crop_flip" in done.stderr  # choices too
    assert not (tmp_path / "o").exists()

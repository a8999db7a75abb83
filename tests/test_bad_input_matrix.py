"""The bad-input matrix, through the command line as a user meets it: every case exits non-zero with a message
naming the problem (and the fix), and writes nothing: no output folder, the input model byte-identical."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from datasets import ClassLabel, Dataset, Features, Image, Value

from hf_unlearn.cli import main
from hf_unlearn.safety import folder_digest

#: Multi-GAN's options of every case's recipe (tiny GANs).
TINY_GAN = {"gan": {"generator_channels": 8, "discriminator_channels": 8, "epochs": 1, "min_steps": 20},
            "num_synthetic_retain": 20, "num_synthetic_forget": 20}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, digits, trained_model_dir):
    root = tmp_path_factory.mktemp("bad")
    data = root / "data"
    data.mkdir()
    digits["train"].to_parquet(str(data / "train.parquet"))
    digits["test"].to_parquet(str(data / "test.parquet"))
    model = root / "model"
    shutil.copytree(trained_model_dir, model)
    return root, data, model


def _write_data(folder: Path, train: Dataset, test: Dataset) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    train.to_parquet(str(folder / "train.parquet"))
    test.to_parquet(str(folder / "test.parquet"))
    return str(folder)


def _corrupt_images(digits, tmp):
    rows = digits["train"].cast_column("image", Image(decode=False)).to_list()
    rows[5]["image"] = {"bytes": b"not an image at all", "path": None}
    train = Dataset.from_list(rows, features=digits["train"].features)
    return {"dataset_name": _write_data(tmp / "corrupt", train, digits["test"])}


def _relabelled(digits, tmp, names):
    train = digits["train"].cast_column("label", ClassLabel(names=names))
    test = digits["test"].cast_column("label", ClassLabel(names=names))
    return {"dataset_name": _write_data(tmp / f"labels{len(names)}", train, test)}


def _test_relabelled(digits, tmp):
    names = [str(i) for i in range(10)]
    test = digits["test"].cast_column("label", ClassLabel(names=names[::-1]))  # same classes, another order
    return {"dataset_name": _write_data(tmp / "reordered", digits["train"], test)}


def _string_labels(digits, tmp):
    def as_text(ds):
        return ds.cast_column("label", Value("int64")).cast_column("label", Value("string"))

    return {"dataset_name": _write_data(tmp / "strings", as_text(digits["train"]), as_text(digits["test"]))}


def _float_images(digits, tmp):
    """Float (`F`) images holding 0..255 instead of [0, 1]: refused, not clipped or guessed."""
    from PIL import Image as PILImage

    rows = list(digits["train"])
    for i in (4, 9):
        rows[i]["image"] = PILImage.fromarray(np.asarray(rows[i]["image"], dtype=np.float32) * 1.0, mode="F")
    train = Dataset.from_list(rows, features=digits["train"].features)
    return {"dataset_name": _write_data(tmp / "float", train, digits["test"])}


def _refused_model_class(tmp):
    """A class of the image-classification mapping hf-unlearn cannot train (ImageGPT reads token ids)."""
    import transformers as T

    names = {i: str(i) for i in range(10)}
    model = T.ImageGPTForImageClassification(T.ImageGPTConfig(vocab_size=17, n_positions=64, n_embd=16, n_layer=1,
                                                              n_head=2, num_labels=10, id2label=names))
    processor_class = getattr(T, "ImageGPTImageProcessorPil", None) or T.ImageGPTImageProcessor
    processor = processor_class(clusters=np.random.RandomState(0).uniform(-1, 1, (16, 3)), size={"height": 8, "width": 8})
    folder = tmp / "imagegpt"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return {"model_name_or_path": str(folder)}


def _five_classes(digits, tmp):
    keep = [i for i, y in enumerate(digits["train"]["label"]) if y < 5]
    keep_test = [i for i, y in enumerate(digits["test"]["label"]) if y < 5]
    names = [str(i) for i in range(5)]
    train = digits["train"].select(keep).cast_column("label", ClassLabel(names=names))
    test = digits["test"].select(keep_test).cast_column("label", ClassLabel(names=names))
    return {"dataset_name": _write_data(tmp / "five", train, test)}


def _drop_column(digits, tmp, column):
    return {"dataset_name": _write_data(tmp / f"no_{column}", digits["train"].remove_columns(column),
                                        digits["test"].remove_columns(column))}


def _labels_as_ints(digits, tmp):
    features = Features({"image": Image(), "label": Value("int64")})
    shift = lambda r: {"label": r["label"] + 5}  # noqa: E731  labels 5..14 for a 10-class model
    train = digits["train"].cast(features).map(shift)
    return {"dataset_name": _write_data(tmp / "unknown_labels", train, digits["test"].cast(features))}


def _model_copy(model, tmp, name, mutate):
    target = tmp / name
    shutil.copytree(model, target)
    mutate(target)
    return {"model_name_or_path": str(target)}


def _pickle_only(folder: Path):
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()


def _no_disk(monkeypatch):
    import shutil as sh
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(sh, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    return {}


# name -> (builder(digits, tmp, model, monkeypatch) -> recipe overrides, expected message)
CASES = {
    "empty forget indices": (lambda d, t, m, mp: {"forget_indices": [], "forget_classes": None}, "forget set is empty"),
    "duplicate forget indices": (lambda d, t, m, mp: {"forget_indices": [3, 7, 3], "forget_classes": None}, "duplicates \\[3\\]"),
    "out-of-range forget index": (lambda d, t, m, mp: {"forget_indices": [0, 99999], "forget_classes": None}, "out of range"),
    "non-integer forget index": (lambda d, t, m, mp: {"forget_indices": [1, "two"], "forget_classes": None}, "'two' is not an integer"),
    "forget set = whole dataset": (lambda d, t, m, mp: {"forget_classes": [str(i) for i in range(10)]},
                                   "nothing would be retained"),
    "forget fraction 1": (lambda d, t, m, mp: {"forget_fraction": 1.0, "forget_classes": None}, "strictly between 0 and 1"),
    "unknown class name": (lambda d, t, m, mp: {"forget_classes": ["cat"]}, "Unknown class 'cat'"),
    "class id beyond num_labels": (lambda d, t, m, mp: {"forget_classes": ["12"]}, "out of range"),
    "no forget set": (lambda d, t, m, mp: {"forget_classes": None}, "No forget set given"),
    "two forget options": (lambda d, t, m, mp: {"forget_fraction": 0.1}, "exactly one of"),
    "no image column": (lambda d, t, m, mp: _drop_column(d, t, "image"), "No image column"),
    "no label column": (lambda d, t, m, mp: _drop_column(d, t, "label"), "No label column"),
    "labels the model does not know": (lambda d, t, m, mp: _labels_as_ints(d, t), "labels in 5..14 but the model predicts 10"),
    "num_labels mismatch": (lambda d, t, m, mp: _five_classes(d, t), "5 classes but the model predicts 10"),
    "corrupt image bytes": (lambda d, t, m, mp: _corrupt_images(d, t), "cannot be decoded \\(rows \\[5\\]\\)"),
    "missing dataset": (lambda d, t, m, mp: {"dataset_name": str(t / "nowhere")}, "Could not load dataset"),
    "missing checkpoint": (lambda d, t, m, mp: {"model_name_or_path": str(t / "no_model")}, "Could not load model"),
    "checkpoint without config": (lambda d, t, m, mp: _model_copy(m, t, "noconfig", lambda f: (f / "config.json").unlink()),
                                  "holds no config.json"),
    "checkpoint without weights": (lambda d, t, m, mp: _model_copy(
        m, t, "noweights", lambda f: (f / "model.safetensors").unlink()), "holds no model weights"),
    "corrupt checkpoint": (lambda d, t, m, mp: _model_copy(
        m, t, "corrupt", lambda f: (f / "model.safetensors").write_bytes(b"\x00" * 64)), "corrupt or unreadable"),
    "pickle-only weights": (lambda d, t, m, mp: _model_copy(m, t, "pickle", _pickle_only), "only pickle weights"),
    "output dir = input model dir": (lambda d, t, m, mp: {"output_dir": str(m)}, "would be overwritten"),
    "unwritable output dir": (lambda d, t, m, mp: {"output_dir": str(t / "a_file" / "out")}, "cannot be written"),
    "not enough disk": (lambda d, t, m, mp: _no_disk(mp), "Not enough disk space"),
    "unknown method": (lambda d, t, m, mp: {"method": "magic"}, "Unknown unlearning method"),
    "bad method options": (lambda d, t, m, mp: {"method": "neggrad_plus", "method_args": {"retain_wieght": 1}},
                           "retain_wieght"),
    "gate threshold out of range": (lambda d, t, m, mp: {"push_gate": {"max_mia_auc": 1.5}}, "out of range"),
    "unknown gate threshold": (lambda d, t, m, mp: {"push_gate": {"max_forget_acc": 1}}, "Unknown push_gate"),
    "invalid recipe key": (lambda d, t, m, mp: {"gan_epoch": 3}, "unknown keys \\['gan_epoch'\\]"),
    "missing reference model": (lambda d, t, m, mp: {"reference_model_path": str(t / "no_ref")}, "Could not load model"),
    "NaN loss in GAN training": (lambda d, t, m, mp: {"method_args": {**TINY_GAN, "gan": {**TINY_GAN["gan"],
                                                                                         "learning_rate": 1e30}}},
                                 "training diverged at step"),
    "NaN loss in fine-tuning": (lambda d, t, m, mp: {"learning_rate": 1e30, "method_args": {
        **TINY_GAN, "num_synthetic_retain": 0, "num_synthetic_forget": 0}}, "fine-tuning loss became"),
    # issue 13: options typed and range-checked when the config is built; meaningful runs only
    "negative learning rate": (lambda d, t, m, mp: {"learning_rate": -0.1}, "learning_rate = -0.1 is out of range: it must be > 0"),
    "zero batch size": (lambda d, t, m, mp: {"per_device_train_batch_size": 0}, "per_device_train_batch_size = 0 is out of range"),
    "no fine-tuning epochs": (lambda d, t, m, mp: {"num_train_epochs": 0}, "nothing would be unlearned"),
    "method option of the wrong type": (lambda d, t, m, mp: {"method": "neggrad_plus", "method_args": {"retain_weight": "most"}},
                                        "method_args.retain_weight = 'most' \\(str\\) is not a valid float"),
    "no training rows": (lambda d, t, m, mp: {"max_train_samples": 0}, "max_train_samples = 0 keeps no rows"),
    "GAN option of the wrong type": (lambda d, t, m, mp: {"method_args": {"gan": {"epochs": "many"}}},
                                     "method_args.gan.epochs = 'many' \\(str\\) is not a valid float"),
    # issue 13: the label space, and the output folder kept apart from every input
    "test set in another class order": (lambda d, t, m, mp: _test_relabelled(d, t), "name different classes"),
    "string labels": (lambda d, t, m, mp: _string_labels(d, t), "not class ids: encode it with dataset.class_encode_column"),
    "output dir inside the model dir": (lambda d, t, m, mp: {"output_dir": str(m / "unlearned")},
                                       "lies inside the input model's folder"),
    "output dir containing the model dir": (lambda d, t, m, mp: {"output_dir": str(m.parent)},
                                            "contains the input model's folder"),
    "output dir inside the dataset dir": (lambda d, t, m, mp: {"output_dir": str(m.parent / "data" / "out")},
                                          "lies inside the dataset's folder"),
    # issue 13: images as they come, every model class either trained or refused before any work
    "float images outside [0, 1]": (lambda d, t, m, mp: _float_images(d, t), "rows \\[4, 9\\]"),
    "a model class that cannot be unlearned": (lambda d, t, m, mp: _refused_model_class(t),
                                               "ImageGPTForImageClassification cannot be unlearned"),
    # issue 17: requests by id value, image, file and filter
    "forget_where on an unknown column": (lambda d, t, m, mp: {"forget_classes": None, "forget_where": {"user": ["u1"]}},
                                          "no column 'user'"),
    "forget_where value matching nothing": (lambda d, t, m, mp: {"forget_classes": None, "forget_where": {"label": [3, 42]}},
                                            "match no training row: label=42"),
    "forget_filter running code": (lambda d, t, m, mp: {"forget_classes": None, "forget_filter": "__import__('os')"},
                                   "uses Call"),
    "forget_filter selecting nothing": (lambda d, t, m, mp: {"forget_classes": None, "forget_filter": "label > 99"},
                                        "selects no training row"),
    "forget_images that match no row": (lambda d, t, m, mp: _unmatched_image(t), "1 of the 1 images match no training row"),
    "forget_file that does not exist": (lambda d, t, m, mp: {"forget_classes": None, "forget_file": str(t / "ids.txt")},
                                        "forget_file = .* does not exist"),
}


def _unmatched_image(tmp):
    from PIL import Image as PILImage

    PILImage.new("L", (8, 8), 7).save(tmp / "stranger.png")
    return {"forget_classes": None, "forget_images": [str(tmp / "stranger.png")]}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_early_with_a_clear_error_and_writes_nothing(case, workspace, digits, tmp_path, monkeypatch,
                                                                     capsys):
    root, data, model = workspace
    (tmp_path / "a_file").write_text("a file, not a folder")
    build, message = CASES[case]
    recipe = {"dataset_name": str(data), "model_name_or_path": str(model), "forget_classes": ["3"],
              "output_dir": str(tmp_path / "out"), "use_cpu": True, "disable_tqdm": True, "report_to": "none",
              "seed": 0, "method_args": TINY_GAN, "num_train_epochs": 1,
              "eval_retain_samples": 200, "logging_steps": 1000}
    recipe.update(build(digits, tmp_path, model, monkeypatch))
    recipe = {k: v for k, v in recipe.items() if v is not None}
    before = folder_digest(str(model))
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    try:
        code = main(["run", str(path)])
    except SystemExit as exit_:  # recipe-level errors leave through argparse-style SystemExit
        code = exit_.code
        print(exit_.code, file=__import__("sys").stderr)
    err = capsys.readouterr().err
    assert code not in (0, None), case
    assert __import__("re").search(message, err), (case, err[-2000:])
    out = tmp_path / "out"
    assert not any(out.rglob("*.safetensors")) and not (out / "README.md").exists(), case
    asked = Path(recipe["output_dir"])  # wherever the case pointed output_dir: no card, no results there
    assert not any((asked / name).exists() for name in ("README.md", "unlearning_results.json")), case
    assert not list(asked.glob("checkpoint-*")), case
    assert folder_digest(str(model)) == before  # the input model is never touched


def test_invalid_yaml_is_named(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("dataset_name: [unclosed\nforget_classes: 3\n")
    assert main(["run", str(path)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_handled_inputs_grayscale_into_rgb_and_mixed_sizes(tmp_path, digits, trained_model_dir):
    """Not errors: RGB data into a 1-channel model and images of mixed sizes are converted and resized by the
    model's own processor (documented), and the run records the input model's and the data's hashes."""
    rows = list(digits["train"])  # decoded PIL images
    for i in range(0, len(rows), 7):
        rows[i]["image"] = rows[i]["image"].convert("RGB").resize((12, 12))
    mixed = Dataset.from_list(rows, features=digits["train"].features)
    data = _write_data(tmp_path / "mixed", mixed, digits["test"])
    recipe = tmp_path / "ok.yaml"
    recipe.write_text(yaml.safe_dump({
        "dataset_name": data, "model_name_or_path": trained_model_dir, "method": "finetune", "forget_classes": ["3"],
        "output_dir": str(tmp_path / "out"), "use_cpu": True, "disable_tqdm": True, "report_to": "none",
        "num_train_epochs": 1, "eval_retain_samples": 200}))
    assert main(["run", str(recipe)]) == 0
    results = json.loads((tmp_path / "out" / "unlearning_results.json").read_text())
    assert results["input_model"]["sha256"] == folder_digest(trained_model_dir)
    assert len(results["data_sha256"]) == 64

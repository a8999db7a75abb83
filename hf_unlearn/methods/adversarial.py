"""AMUN's adversarial examples (`amun`): the smallest-radius search, run on a dataset's rows, and its one-time
preparation.

The search (`smallest_adversarial`) is the authors' `pgdl2_modified.py` as `build_advdataset.py` runs it. Each
image's example depends only on the model (in eval mode), the image and its label, so the authors build the set
once for every training image and each later request reads its forget rows' examples. `hf-unlearn prepare` with
`method: amun` does that (`prepare_adversarial`); a request then points `method_args.prepared_path` at the
folder and costs the fine-tuning only. A folder holds `preparation.json` (the SHA-256 of the training data as a
request computes it, of the model's weights, of the rows and of the image processor's settings; the attack
settings; the one-time cost), `rows.npy`, and per row (in that order) the example in [0, 1] pixel units at the
model's input size (`images.npy`, float32: 4 x C x H x W bytes a row, 49 KB at 3 x 64 x 64), the model's
prediction on it (`labels.npy`) and the radius it needed (`radius.npy`). The stored examples are the ones a
request would compute itself, up to float rounding (an image is attacked in a batch of other images: 4e-7 apart
at most in the tests).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset

from ..data import class_names, content_digest, find_columns, to_standard_columns
from ..forget import exclude_previous, load_forget_set
from ..gan.preparation import rows_digest
from ..options import OptionError
from ..safety import (
    check_output_apart,
    check_output_dir,
    check_replaceable,
    replace_folder,
    weights_digest,
    write_json_atomic,
)

PREPARATION_FILE = "preparation.json"
ARRAYS = ("images", "labels", "radius")
FORMAT_VERSION = 1
#: The attack options a preparation is made with and a request must share (amun's `AmunOptions`).
ATTACK_FIELDS = ("attack_eps", "attack_steps", "attack_max_doublings")


def smallest_adversarial(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, to_input: Any,
                         eps: float = 0.04, steps: int = 50, max_doublings: int = 30) -> dict[str, torch.Tensor]:
    """For each image (values in [0, 1]), the first L2-PGD iterate the model no longer classifies as its label,
    searching radius eps, then 2 eps, 4 eps, ... (`steps` steps each, step size radius / 10). `to_input` maps
    [0, 1] images to the model's input (its normalisation). Returns the adversarial images, their predicted
    labels, the radius each needed and the original predictions."""
    model_was_training = model.training
    model.eval()
    clean = images.detach()
    adv = clean.clone()
    n = len(clean)
    radius = torch.full((n,), float(eps), dtype=clean.dtype, device=clean.device)
    adv_label = torch.full((n,), -1, dtype=torch.long, device=clean.device)
    active = torch.arange(n, device=clean.device)
    with torch.no_grad():
        original = model(pixel_values=to_input(clean)).logits.argmax(1)
    try:
        for _ in range(max_doublings + 1):
            for _ in range(steps):
                x = adv[active].clone().requires_grad_(True)
                logits = model(pixel_values=to_input(x)).logits
                predicted = logits.argmax(1)
                flipped = predicted != labels[active]
                adv_label[active[flipped]] = predicted[flipped]
                if flipped.all():
                    active = active[:0]
                    break
                grad = torch.autograd.grad(F.cross_entropy(logits, labels[active]), x)[0]
                keep = ~flipped
                active, x, grad = active[keep], x[keep].detach(), grad[keep]
                norm = grad.reshape(len(active), -1).norm(dim=1).clamp_min(1e-10)
                step = (radius[active] / 10).view(-1, 1, 1, 1)
                moved = x + step * grad / norm.view(-1, 1, 1, 1)
                delta = moved - clean[active]
                scale = (radius[active] / delta.reshape(len(active), -1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)
                adv[active] = (clean[active] + delta * scale.view(-1, 1, 1, 1)).clamp(0.0, 1.0)
            if len(active) == 0:
                break
            with torch.no_grad():
                still = model(pixel_values=to_input(adv[active])).logits.argmax(1) == labels[active]
            radius[active[still]] *= 2
            done = active[~still]
            if len(done):
                with torch.no_grad():
                    adv_label[done] = model(pixel_values=to_input(adv[done])).logits.argmax(1)
                active = active[still]
            if len(active) == 0:
                break
        if len(active):
            raise RuntimeError(f"amun: {len(active)} image(s) kept their label after {max_doublings} doublings of the "
                               "attack radius; raise attack_max_doublings or attack_eps.")
    finally:
        model.train(model_was_training)
    return {"images": adv.detach(), "labels": adv_label, "radius": radius, "original": original}


def attack_rows(model: torch.nn.Module, dataset: Dataset, transform: Any, options: Any,
                start_row: int = 0) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """`smallest_adversarial` over the rows of `dataset` (columns image, label) from row `start_row` (a
    preparation resumes there), `options.attack_batch_size` at a time: for each batch its first row and its
    examples in [0, 1] pixel units at the model's input size, their labels (the model's predictions) and radii."""
    processed = dataset.with_transform(transform)
    to_input, to_pixels = transform.pixel_maps()
    device = next(model.parameters()).device
    for begin in range(start_row, len(dataset), options.attack_batch_size):
        rows = processed[begin:begin + options.attack_batch_size]
        pixels = to_pixels(torch.stack(list(rows["pixel_values"])).float().to(device)).clamp(0, 1)
        found = smallest_adversarial(model, pixels, torch.as_tensor(rows["labels"], device=device), to_input,
                                     options.attack_eps, options.attack_steps, options.attack_max_doublings)
        yield begin, {name: found[name].cpu().numpy() for name in ARRAYS}


def processor_digest(transform: Any) -> str:
    """SHA-256 of the image processor's settings (its `to_dict()`) and the model's channels: an example made
    at another input size or normalisation is another example."""
    processor = transform.image_processor
    settings = processor.to_dict() if hasattr(processor, "to_dict") else repr(processor)
    text = json.dumps({"processor": settings, "channels": transform.num_channels}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class AdversarialSet:
    """A prepared adversarial set (`load_adversarial` reads one, `prepare_adversarial` makes one)."""

    path: str
    record: dict[str, Any]

    @property
    def rows(self) -> np.ndarray:
        return np.load(os.path.join(self.path, "rows.npy"))

    def check(self, data_sha256: str, model_sha256: str, processor_sha256: str, options: Any,
              option: str = "method_args.prepared_path") -> None:
        """Refuse a set made for other data, another model (an unlearned model is another model: its examples
        differ), another image processor or other attack settings, naming the option and the fix."""
        fix = (f"run `hf-unlearn prepare` with method amun on this model and training set and point {option} at "
               f"its output folder, or leave {option} unset (the forget rows are then attacked for this request)")
        record = self.record
        for what, mine, theirs in (("training data", data_sha256, record["data_sha256"]),
                                   ("model weights", model_sha256, record["model_sha256"]),
                                   ("image processor settings", processor_sha256, record["processor_sha256"])):
            if mine != theirs:
                raise OptionError(f"{option} = {self.path!r} was prepared for other {what} (sha256 {theirs[:12]}…, "
                                  f"this run's {mine[:12]}…): {fix}.")
        for name in ATTACK_FIELDS:
            if getattr(options, name) != record["attack"][name]:
                raise OptionError(f"method_args.{name} = {getattr(options, name)} but {option} = {self.path!r} was "
                                  f"attacked with {record['attack'][name]}: set it to that, or {fix}.")

    def read(self, positions: np.ndarray) -> dict[str, np.ndarray]:
        """The examples, labels and radii at `positions` (see `positions`): only those rows are read from disk."""
        return {name: np.asarray(np.load(os.path.join(self.path, f"{name}.npy"), mmap_mode="r")[positions])
                for name in ARRAYS}

    def positions(self, rows: np.ndarray, option: str = "method_args.prepared_path") -> np.ndarray:
        """Where training rows `rows` are in the set; an error naming the option when some are not there."""
        prepared = self.rows
        order = np.argsort(prepared)
        found = np.searchsorted(prepared, rows, sorter=order)
        found = np.clip(found, 0, len(prepared) - 1)
        position = order[found]
        missing = np.asarray(rows)[prepared[position] != rows]
        if len(missing):
            raise OptionError(f"{option} = {self.path!r} holds no examples for {len(missing)} forget row(s) (e.g. "
                              f"{missing[:5].tolist()}): it was prepared without them (rows of earlier requests "
                              "are left out); prepare again, or leave it unset.")
        return position


def load_adversarial(path: str, option: str = "method_args.prepared_path") -> AdversarialSet:
    """The prepared adversarial set in folder `path`, or an error naming `option` when it holds none."""
    missing = [name for name in (PREPARATION_FILE, "rows.npy", *(f"{a}.npy" for a in ARRAYS))
               if not os.path.isfile(os.path.join(path, name))]
    if missing:
        raise OptionError(f"{option} = {path!r} holds no prepared adversarial set ({', '.join(missing)} missing): "
                          "point it at the output folder of `hf-unlearn prepare` run with method amun, or leave it unset.")
    with open(os.path.join(path, PREPARATION_FILE)) as f:
        record = json.load(f)
    if record.get("kind") != "amun" or record.get("format_version") != FORMAT_VERSION:
        raise OptionError(f"{option} = {path!r} is not an amun preparation of this version of hf-unlearn (kind "
                          f"{record.get('kind')!r}, format {record.get('format_version')}): run `hf-unlearn prepare` "
                          "with method amun again.")
    return AdversarialSet(os.path.abspath(path), record)


def prepare_adversarial(model: torch.nn.Module, transform: Any, args: Any, options: Any, train_dataset: Dataset,
                        output_dir: str, *, model_source: str | None = None, dataset_name: str | None = None,
                        command: str | None = None, log: Any = None) -> AdversarialSet:
    """Attack every training row of `model` once and save the examples in `output_dir` (apart from the model's
    and the data's folders). `args` (an `UnlearningConfig`) finds the columns and its `previous_forget_sets`
    leave out the rows already forgotten; `options` are amun's. An interrupted preparation resumes from the
    last finished batch (a batch's examples do not depend on the others)."""
    check_output_apart(output_dir, {"the model's folder": model_source, "the dataset's folder": dataset_name})
    image_col, label_col = find_columns(train_dataset, args.image_column, args.label_column)
    full = to_standard_columns(train_dataset, image_col, label_col)
    rows = np.arange(len(full))
    previous = [load_forget_set(p) for p in args.previous_forget_sets or []]
    if previous:
        rows, _ = exclude_previous(rows, np.array([], dtype=np.int64), previous, np.asarray(full["label"]),
                                   class_names(train_dataset, label_col), train_dataset)
    chosen = full.select(rows)
    shape = tuple(chosen.select([0]).with_transform(transform)[0:1]["pixel_values"][0].shape)
    needed = 4 * len(rows) * int(np.prod(shape))
    check_output_dir(output_dir, needed)
    check_replaceable(output_dir, PREPARATION_FILE)
    record = {"kind": "amun", "format_version": FORMAT_VERSION,
              "data_sha256": content_digest(full, verify="training set"), "model_sha256": weights_digest(model),
              "processor_sha256": processor_digest(transform), "model_source": model_source,
              "dataset_name": dataset_name, "num_train": len(full), "num_rows": len(rows),
              "rows_sha256": rows_digest(rows),
              "excluded_forget_sets": [p.spec_hash() for p in previous], "input_shape": list(shape),
              "attack": {name: getattr(options, name) for name in ATTACK_FIELDS}, "command": command}
    staging = output_dir.rstrip("/") + ".tmp"
    progress_file = os.path.join(staging, "progress.json")
    done, seconds = 0, 0.0
    if os.path.isfile(progress_file):  # resume an interrupted preparation of the same thing
        with open(progress_file) as f:
            progress = json.load(f)
        if progress.get("record") == record:
            done, seconds = progress["rows_done"], progress["seconds"]
    if done == 0:
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        np.save(os.path.join(staging, "rows.npy"), rows.astype(np.int64))
        np.lib.format.open_memmap(os.path.join(staging, "images.npy"), "w+", np.float32, (len(rows), *shape))
        np.lib.format.open_memmap(os.path.join(staging, "labels.npy"), "w+", np.int64, (len(rows),))
        np.lib.format.open_memmap(os.path.join(staging, "radius.npy"), "w+", np.float32, (len(rows),))
    files = {name: np.load(os.path.join(staging, f"{name}.npy"), mmap_mode="r+") for name in ARRAYS}
    start = time.perf_counter()
    for begin, found in attack_rows(model, chosen, transform, options, start_row=done):
        for name in ARRAYS:  # each batch on disk, then the progress that says so
            files[name][begin:begin + len(found[name])] = found[name]
            files[name].flush()
        finished = begin + len(found["labels"])
        write_json_atomic(progress_file, {"record": record, "rows_done": finished,
                                          "seconds": seconds + time.perf_counter() - start})
        if log is not None:
            log(f"{finished}/{len(chosen)} rows attacked ({seconds + time.perf_counter() - start:.0f}s)")
    labels = np.asarray(files["labels"])
    record.update(preparation_s=seconds + time.perf_counter() - start,
                  median_radius=float(np.median(files["radius"])),
                  label_changed=float((labels != np.asarray(chosen["label"])).mean()))
    files.clear()  # the memory maps are closed before the folder moves
    os.remove(progress_file)
    write_json_atomic(os.path.join(staging, PREPARATION_FILE), record)
    replace_folder(staging, output_dir)
    return AdversarialSet(os.path.abspath(output_dir), record)

"""`amun` (Ebrahimpour-Boroojeny, Sundaram & Chandrasekaran, "Not All Wrong is Bad: Using Adversarial Examples
for Unlearning", ICML 2025): fine-tune on the training data plus, for every forget image, its closest adversarial
example labelled with the class the model predicts for it.

As the authors' code runs it (Ali-E/AMUN: `build_advdataset.py`, `pgdl2_modified.py`, `adversarial_unlearn.py`,
`hyperparam_tune.py`):

* **Adversarial examples** of the original model (eval mode): an L2 PGD per image that stops as soon as the
  prediction changes; 50 normalised-gradient steps of size eps/10 projected onto the L2 ball of radius eps (start
  0.04) and onto valid pixels [0, 1]; an image still classified correctly after 50 steps has its radius doubled and
  goes on from where it was. An image the model already gets wrong is its own adversarial example. Its label is the
  model's prediction on it (`adv_pred`), not a chosen class.
* **Fine-tuning set** (`amun`, their `use_remain`): the retain rows and the forget rows with their own labels, plus
  the forget rows' adversarial examples; `include_forget: false` leaves the forget rows out (their `advonly`).
* **Schedule**: SGD (momentum 0.9, weight decay 5e-4; the config's), the learning rate divided by 10 every
  `lr_step_epochs` epochs (their StepLR(step_size=LRsteps, gamma=0.1)); they report 10 epochs at lr 0.01 with
  LRsteps 1 and tune lr over {1e-1 ... 1e-5, 0.05, 0.005} and LRsteps over {1, 5, 10}.

Deliberate differences (docs/benchmarks/methods.md lists them): the attack runs on the model's input (the image
processor's output, e.g. CIFAR-10 resized to 64 px, mapped back to [0, 1] pixel units) rather than on the stored
32-px image, so its radii are in those units; real rows are not augmented (their training set uses random crops
and flips), as for every method here. As the authors do, the examples can be made once for every training image
(`hf-unlearn prepare` with method amun, `adversarial.py`) and read by each request (`prepared_path`); left unset,
a request attacks its own forget rows (the same examples, at per-request instead of one-time cost).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset

from ..constants import AUX_INDEX
from ..options import at_least, non_negative, option, positive
from ..synthesis import combine_sources, with_source
from .adversarial import (
    ARRAYS,
    ATTACK_FIELDS,
    AdversarialSet,
    attack_rows,
    load_adversarial,
    prepare_adversarial,
    processor_digest,
)
from .base import UnlearningMethod
from .registry import register_method


@dataclass
class AmunOptions:
    include_forget: bool = option(
        True, help="Fine-tune on the forget rows (own labels) beside their adversarial examples (AMUN); false: "
                   "adversarial examples and retain rows only (the authors' `advonly`).")
    lr_step_epochs: float = option(
        1.0, help="Multiply the learning rate by lr_gamma every this many epochs (the authors' LRsteps: 1 in their "
                  "reported runs); 0: the config's lr_scheduler_type instead.", range=(non_negative, ">= 0"))
    lr_gamma: float = option(0.1, help="Factor of each learning-rate step (their gamma).",
                             range=(lambda x: 0 < x <= 1, "in (0, 1]"))
    attack_eps: float = option(0.04, help="Starting L2 radius of the adversarial search, in [0, 1] pixel units.",
                               range=(positive, "> 0"))
    attack_steps: int = option(50, help="PGD steps per radius before the radius of a still-correct image doubles.",
                               range=(at_least(1), ">= 1"))
    attack_max_doublings: int = option(
        30, help="Give up doubling after this many rounds (an image that never flips is an error).",
        range=(non_negative, ">= 0"))
    attack_batch_size: int = option(128, help="Images attacked together.", range=(at_least(1), ">= 1"))
    prepared_path: str | None = option(
        None, help="Folder of this model's adversarial set, made once for every training image by `hf-unlearn "
                   "prepare` with method amun (as the authors build it): the request then attacks nothing. Unset: "
                   "the forget rows are attacked for this request.")


@register_method
class Amun(UnlearningMethod):
    """Fine-tune on the data plus each forget image's closest adversarial example, labelled as the model predicts it."""

    name = "amun"
    paper = 'Ebrahimpour-Boroojeny et al., ICML 2025 ("Not All Wrong is Bad")'
    Options = AmunOptions
    prepares = "adversarial set"  # every training image's example, made once as the authors build it

    preparation_serves_later_requests = False  # an unlearned model has other adversarial examples: attack anew

    @classmethod
    def load_prepared(cls, folder: str) -> AdversarialSet:
        return load_adversarial(folder)

    @classmethod
    def preparation_identity(cls, config: Any, processor: Any) -> dict[str, Any]:
        """The attack's settings and the processor the examples were scored through."""
        options = config.method_options
        return {"attack": {name: getattr(options, name) for name in ATTACK_FIELDS}, "processor": processor}

    @classmethod
    def preparation_folder(cls, identity: dict[str, Any]) -> str:
        text = json.dumps(identity["attack"], sort_keys=True, separators=(",", ":"), default=str)
        return "prepared_amun_" + hashlib.sha256(text.encode()).hexdigest()[:8]  # one per attack setting

    @classmethod
    def prepare(cls, model: Any, config: Any, train: Dataset, output_dir: str, *, model_source: str | None,
                dataset_name: str | None, command: str | None, log: Any, processor: Any = None) -> AdversarialSet:
        """The adversarial example of every training row (`adversarial.prepare_adversarial`), scored through the
        model's own processor; never uploaded (it is the training images, nearly unchanged)."""
        from transformers import AutoImageProcessor

        from ..data import ImageTransform, model_num_channels
        from ..safety import load_pretrained

        if processor is None:
            processor = load_pretrained(AutoImageProcessor, model_source, weights=False)
        model.to(config.device)  # the Trainer's device choice (use_cpu, else an accelerator when there is one)
        return prepare_adversarial(model, ImageTransform(processor, model_num_channels(model)), config,
                                   config.method_options, train, output_dir, model_source=model_source,
                                   dataset_name=dataset_name, command=command, log=log)

    def __init__(self, trainer: Any):
        super().__init__(trainer)
        self.adversarial: torch.Tensor | None = None  # model inputs of the adversarial rows, in row order
        self.prepared: AdversarialSet | None = None
        self.positions: np.ndarray | None = None  # of the forget rows in the prepared set (checked by validate)
        self.attack: dict[str, float] = {}

    def validate(self) -> None:
        """Before any work: a prepared set exists and was made for this model, data, processor and attack; a class
        request is told that the authors' fine-tuning set keeps the class (it still runs as asked)."""
        if self.options.include_forget and self.trainer.forget_set.kind == "classes":
            print("[hf-unlearn] warning: method amun with include_forget true (the authors' setting) fine-tunes on "
                  "every forget image with its own label beside its adversarial example; on a whole class that "
                  "keeps the class (CIFAR-10 cat: forget accuracy 43% where retraining gives 0, BENCHMARKS.md). "
                  "Set method_args.include_forget: false to leave the forget images out.", flush=True)
        if self.options.prepared_path:
            trainer = self.trainer
            self.prepared = load_adversarial(self.options.prepared_path)
            self.prepared.check(trainer.data_sha256, trainer.input_model["weights_sha256"],
                                processor_digest(trainer.transform), self.options)
            self.positions = self.prepared.positions(np.asarray(trainer.forget_indices))

    def build_train_dataset(self) -> Dataset:
        trainer, options = self.trainer, self.options
        start = time.perf_counter()
        forget = trainer.forget_dataset
        if self.prepared is not None:  # made once for every training row: read this request's rows
            found = self.prepared.read(self.positions)
        else:
            batches = [arrays for _, arrays in attack_rows(trainer.model, forget, trainer.transform, options)]
            found = {name: np.concatenate([arrays[name] for arrays in batches]) for name in ARRAYS}
        to_input, _ = trainer.transform.pixel_maps()
        self.adversarial = to_input(torch.from_numpy(found["images"]))
        adv_labels, radius = found["labels"], found["radius"]
        self.attack = {"adversarial_rows": len(adv_labels), "median_radius": float(np.median(radius)),
                       "label_changed": float((adv_labels != np.asarray(forget["label"])).mean()),
                       **({"prepared": 1} if self.prepared is not None else {})}
        trainer.log_phase("adversarial_examples", time.perf_counter() - start, **self.attack)
        parts = {"retain": with_source(trainer.retain_train_dataset(), "retain"),
                 "synthetic_forget": with_source(forget, "synthetic_forget", adv_labels)}
        if options.include_forget:
            parts["forget"] = with_source(forget, "forget")
        combined = combine_sources(parts)
        first = len(combined) - len(adv_labels)  # the adversarial rows come last (synthetic_forget)
        return combined.add_column(AUX_INDEX, [-1] * first + list(range(len(adv_labels))))

    def compute_loss(self, model: Any, inputs: dict[str, Any], forget_mask: torch.Tensor | None,
                     return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        index = inputs.pop(AUX_INDEX)
        pixels = inputs["pixel_values"]
        rows = index >= 0
        if rows.any():  # the adversarial rows carry their forget image: swap in the adversarial example
            pixels = pixels.clone()
            pixels[rows] = self.adversarial[index[rows].cpu()].to(pixels.device, pixels.dtype)
        outputs = model(pixel_values=pixels)
        loss = F.cross_entropy(outputs.logits, inputs["labels"])
        return (loss, outputs) if return_outputs else loss

    def data_fingerprint(self) -> str | None:
        """SHA-256 of the adversarial inputs (their labels are in the rows, their pixels are not)."""
        if self.adversarial is None:
            return None
        return hashlib.sha256(self.adversarial.contiguous().numpy().tobytes()).hexdigest()[:16]

    def lr_lambda(self, steps_per_epoch: float) -> Any:
        """Their StepLR: the factor gamma^(epoch // lr_step_epochs), applied per optimizer step."""
        every = self.options.lr_step_epochs * steps_per_epoch
        if every <= 0:
            return None
        gamma = self.options.lr_gamma
        return lambda step: gamma ** int(step // every)

    def counts(self) -> dict[str, int]:
        return {"adversarial_rows": int(self.attack.get("adversarial_rows", 0))}

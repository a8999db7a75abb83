"""Peak memory and wall time of one Multi-GAN deletion request as the training set grows (issue 13).

`prepare` writes what a request needs, outside the repository: the data (real CIFAR-10 from
`../shared/data/cifar10`, or N generated small images written to parquet batch by batch, never held in
memory), an "original" ResNet-10 trained briefly here (its quality does not matter for memory and time),
and `request.yaml`. Then time the request alone:

    python benchmarks/full_size_request.py prepare --cifar10 --out /tmp/fullsize/cifar10
    python benchmarks/full_size_request.py prepare --rows 500000 --out /tmp/fullsize/rows500k
    /usr/bin/time -v hf-unlearn run /tmp/fullsize/cifar10/request.yaml      # "Maximum resident set size"

Every request has the same settings (forget 10% at random, 100 steps per GAN, 2,000 synthetic images
each, fine-tuning one epoch on a seeded sample of 20,000 retain rows plus the forget rows), so what grows
with the rows is what scales with them: hashing and opening every image, the forget set's own GAN, its
predictions and the evaluation of the forget set.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

REQUEST = {
    "method": "multigan", "forget_fraction": 0.1, "forget_seed": 0, "seed": 0, "use_cpu": True, "disable_tqdm": True,
    "report_to": "none", "logging_steps": 500, "num_train_epochs": 1, "per_device_train_batch_size": 128,
    "num_retain_samples": 20000, "eval_retain_samples": 2000, "max_test_samples": 2000,
    "method_args": {"num_synthetic_retain": 2000, "num_synthetic_forget": 2000,
                    "gan": {"generator_channels": 32, "discriminator_channels": 32, "epochs": 0.01, "min_steps": 100,
                            "batch_size": 128}},
}
RESNET10 = {"model_type": "resnet", "embedding_size": 16, "hidden_sizes": [16, 32, 64, 128], "depths": [1, 1, 1, 1],
            "layer_type": "basic"}


def write_rows(rows: int, size: int, folder: str, seed: int = 0) -> None:
    """`train.parquet` (N rows) and `test.parquet` (10,000 rows) of size x size RGB PNGs in 10 classes: a class
    colour plus noise, written 10,000 rows at a time."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import ClassLabel, Features, Image
    from PIL import Image as PILImage

    features = Features({"image": Image(), "label": ClassLabel(names=[f"c{i}" for i in range(10)])})
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (10, 3))
    os.makedirs(folder, exist_ok=True)
    for split, count in (("train", rows), ("test", 10000)):
        writer = None
        for start in range(0, count, 10000):
            n = min(10000, count - start)
            labels = rng.integers(0, 10, n)
            pixels = np.clip(colours[labels][:, None, None, :] + rng.normal(0, 40, (n, size, size, 3)), 0, 255)
            images = []
            for array in pixels.astype(np.uint8):
                buffer = io.BytesIO()
                PILImage.fromarray(array).save(buffer, format="PNG")
                images.append({"bytes": buffer.getvalue(), "path": None})
            table = pa.table({"image": images, "label": labels.astype(np.int64)},
                             schema=features.arrow_schema)
            writer = writer or pq.ParquetWriter(os.path.join(folder, f"{split}.parquet"), table.schema)
            writer.write_table(table)
        writer.close()


def train_original(dataset_name: str, out: str, size: int) -> str:
    """A ResNet-10 trained for one epoch on the first 5,000 training rows, saved with its processor."""
    import torch
    from transformers import TrainingArguments

    from hf_unlearn.commands.arguments import DataArguments, load_splits
    from hf_unlearn.config import UnlearningConfig
    from hf_unlearn.data import vit_image_processor
    from hf_unlearn.scratch import scratch_model_factory, train_classifier

    train, _ = load_splits(DataArguments(dataset_name, max_train_samples=5000, max_test_samples=10))
    make_model = scratch_model_factory(RESNET10, train, UnlearningConfig(os.path.join(out, "tmp"), use_cpu=True))
    processor = vit_image_processor(size={"height": size, "width": size}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    torch.manual_seed(0)
    args = TrainingArguments(os.path.join(out, "original-run"), num_train_epochs=1, learning_rate=0.05,
                             per_device_train_batch_size=128, use_cpu=True, report_to="none", save_strategy="no",
                             disable_tqdm=True, remove_unused_columns=False, seed=0)
    model = train_classifier(make_model(), processor, train, args)
    folder = os.path.join(out, "original")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def main() -> None:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prepare = sub.add_parser("prepare")
    source = prepare.add_mutually_exclusive_group(required=True)
    source.add_argument("--cifar10", action="store_true", help="Real CIFAR-10 (50,000 training rows, 32x32).")
    source.add_argument("--rows", type=int, help="N generated 16x16 images instead.")
    prepare.add_argument("--out", required=True, help="Folder for data, model and request.yaml (outside the repo).")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.cifar10:
        dataset, size = os.path.join(os.path.dirname(ROOT), "shared", "data", "cifar10"), 32
    else:
        dataset, size = os.path.join(args.out, "data"), 16
        write_rows(args.rows, size, dataset)
    model = train_original(dataset, args.out, size)
    recipe = {"dataset_name": dataset, "model_name_or_path": model, "output_dir": os.path.join(args.out, "unlearned"),
              **REQUEST}
    path = os.path.join(args.out, "request.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(recipe, f)
    print(f"wrote {path}; time it alone: /usr/bin/time -v hf-unlearn run {path}")


if __name__ == "__main__":
    main()

"""Train and test accuracy of a benchmark's original models (one per seed), as a Markdown table: does the
original memorise its training set (train ~100%) while generalising like a model someone would ship?

    python benchmarks/original_accuracy.py recipes/cifar10-resnet10-64px-cpu/tune.yaml

Reads the originals the benchmark trained (`<output_dir>/seed<N>/original`, with their training seconds) and
scores each on the recipe's training rows and on the whole test split (not the validation rows a tuning recipe
scores on). Run it after the benchmark (it trains nothing).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from transformers import AutoModelForImageClassification

from hf_unlearn.commands.arguments import DataArguments, load_splits, parse_recipe
from hf_unlearn.commands.benchmark import BenchmarkArguments
from hf_unlearn.config import UnlearningConfig
from hf_unlearn.data import (
    ImageTransform,
    find_columns,
    model_num_channels,
    to_standard_columns,
    vit_image_processor,
)
from hf_unlearn.evaluation import predict


def accuracy(model, processor, dataset, config) -> float:
    image_col, label_col = find_columns(dataset)
    data = to_standard_columns(dataset, image_col, label_col)
    predictions = predict(model, data, ImageTransform(processor, model_num_channels(model)), config)
    return float(np.mean(predictions.logits.argmax(1) == predictions.labels) * 100)


def main(recipe: str) -> None:
    args, config = parse_recipe([recipe], (BenchmarkArguments, UnlearningConfig), command="benchmark")
    train, _ = load_splits(args)
    test = load_splits(DataArguments(args.dataset_name, args.train_split, args.test_split))[1]
    processor = vit_image_processor(**(args.image_processor or {}))
    print(f"Originals of `{recipe}`: train accuracy on its {len(train)} training images, test accuracy on all "
          f"{len(test)} test images.\n")
    print("| seed | train acc | test acc | train s |\n|---|---|---|---|")
    for seed in args.seeds:
        folder = os.path.join(config.output_dir, f"seed{seed}", "original")
        if not os.path.isfile(os.path.join(folder, "train_seconds.json")):
            continue
        model = AutoModelForImageClassification.from_pretrained(folder)
        seconds = json.load(open(os.path.join(folder, "train_seconds.json")))["seconds"]
        print(f"| {seed} | {accuracy(model, processor, train, config):.2f} | "
              f"{accuracy(model, processor, test, config):.2f} | {seconds:.0f} |")


if __name__ == "__main__":
    main(sys.argv[1])

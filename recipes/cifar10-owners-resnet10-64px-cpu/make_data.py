"""CIFAR-10 as a dataset of people's photos: the real images and labels, with the columns a real dataset keeps
beside them (who uploaded each image, where it came from, when), and one person's photos sent back as files.

    python recipes/cifar10-owners-resnet10-64px-cpu/make_data.py [--cifar10 ../shared/data/cifar10] [--out DIR]

Writes `DIR/data/train.parquet` and `test.parquet` (the `uoft-cs/cifar10` schema plus `owner`, `source` and
`year`; rows in the original order, so a model trained on the first 10,000 training rows was trained on these)
and `DIR/sent/p0042/*.bmp`: the training images of owner p0042 re-encoded as BMP files, as a person would send
them with a deletion request. Owners are drawn with seed 0: the first 10,000 training rows belong to 400 people
(p0000-p0399, about 25 images each), the other rows to p0400-p1999.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from datasets import load_dataset

SENDER = "p0042"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cifar10", default="../shared/data/cifar10", help="folder of train.parquet / test.parquet")
    parser.add_argument("--out", default="outputs/cifar10-owners")
    args = parser.parse_args()
    files = {split: os.path.join(args.cifar10, f"{split}.parquet") for split in ("train", "test")}
    missing = [f for f in files.values() if not os.path.isfile(f)]
    if missing:
        raise SystemExit(f"No CIFAR-10 parquet at {missing}: give --cifar10 (a folder with the Hub's "
                         "uoft-cs/cifar10 train/test parquet files).")
    data = load_dataset("parquet", data_files=files)
    rng = np.random.default_rng(0)
    n = len(data["train"])
    first = min(10_000, n)
    owners = np.r_[rng.integers(0, 400, first), rng.integers(400, 2000, n - first)]
    train = data["train"].add_column("owner", [f"p{o:04d}" for o in owners])
    train = train.add_column("source", np.where(rng.random(n) < 0.1, "scraped", "licensed").tolist())
    train = train.add_column("year", rng.integers(2010, 2020, n).tolist())
    test = data["test"]
    for column, value in (("owner", "test"), ("source", "licensed"), ("year", 2020)):
        test = test.add_column(column, [value] * len(test))
    os.makedirs(os.path.join(args.out, "data"), exist_ok=True)
    train.to_parquet(os.path.join(args.out, "data", "train.parquet"))
    test.to_parquet(os.path.join(args.out, "data", "test.parquet"))

    sent = os.path.join(args.out, "sent", SENDER)
    os.makedirs(sent, exist_ok=True)
    rows = [i for i in range(first) if owners[i] == int(SENDER[1:])]
    for number, row in enumerate(rows):
        train[row]["img"].save(os.path.join(sent, f"photo_{number:02d}.bmp"), format="BMP")
    print(f"wrote {args.out}/data (train {n} rows, test {len(test)}) and {len(rows)} photos of {SENDER} to {sent}")


if __name__ == "__main__":
    main()

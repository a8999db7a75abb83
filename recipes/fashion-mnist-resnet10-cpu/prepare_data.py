"""Fashion-MNIST from Debian's `dataset-fashion-mnist` package (IDX files) as parquet with the Hub's schema.

    sudo apt-get install dataset-fashion-mnist
    python recipes/fashion-mnist-resnet10-cpu/prepare_data.py [--source DIR] [--out DIR]

Writes `train.parquet` (60,000 rows) and `test.parquet` (10,000 rows) with an `image` column (PNG) and a
`label` ClassLabel column, like the Hub's `zalando-datasets/fashion_mnist`: recipes load either the same way.
"""

from __future__ import annotations

import argparse
import gzip
import os

import numpy as np
from datasets import ClassLabel, Dataset, Features, Image

CLASSES = ["T - shirt / top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]


def read_idx(path: str) -> np.ndarray:
    """An IDX array (the MNIST file format): magic, dimension sizes, then unsigned bytes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", default="outputs/data/fashion-mnist")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.source, "train-images-idx3-ubyte.gz")):
        raise SystemExit(f"No Fashion-MNIST IDX files in {args.source}: `sudo apt-get install dataset-fashion-mnist`, "
                         "or use the Hub id zalando-datasets/fashion_mnist in the recipe instead.")
    os.makedirs(args.out, exist_ok=True)
    features = Features({"image": Image(), "label": ClassLabel(names=CLASSES)})
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(os.path.join(args.source, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(args.source, f"{prefix}-labels-idx1-ubyte.gz"))
        from PIL import Image as PILImage

        dataset = Dataset.from_dict({"image": [PILImage.fromarray(a, mode="L") for a in images],
                                     "label": labels.astype(int).tolist()}, features=features)
        path = os.path.join(args.out, f"{split}.parquet")
        dataset.to_parquet(path)
        print(f"{split}: {len(dataset)} rows -> {path}")


if __name__ == "__main__":
    main()

"""Peak memory of GAN training against the number of rows: train one DCGAN for a fixed number of steps on N
random images, through the code path Multi-GAN uses (`GANImages` read by the DataLoader inside `train_gan`).

The images are written to disk as a `datasets.Dataset` (memory-mapped Arrow, PNG-encoded 32x32 RGB by default),
never held in memory. Measure the training alone by building the data once, then timing a run that loads it:

    python benchmarks/gan_memory.py --rows 500000 --build /tmp/gan_rows_500k
    /usr/bin/time -v python benchmarks/gan_memory.py --data /tmp/gan_rows_500k --steps 20

`--materialise` trains from `gan_pixels` instead (the whole set as one float tensor, as before the data loader):
its peak grows with the rows (N x 3 x R x R x 4 bytes), the default path's does not. Without --build / --data the
data goes to a temporary folder that is removed at the end (its building then counts in the process's peak).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _random_rows(rows: int, size: int, seed: int):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(rows):
        yield {"image": Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)), "label": i % 10}


def build(rows: int, size: int, seed: int, folder: str) -> None:
    """N random images as a `datasets.Dataset` saved in `folder` (written in batches, never all in memory)."""
    from datasets import ClassLabel, Dataset, Features, Image

    features = Features({"image": Image(), "label": ClassLabel(names=[str(i) for i in range(10)])})
    with tempfile.TemporaryDirectory() as cache:
        dataset = Dataset.from_generator(_random_rows, features=features, cache_dir=cache,
                                         gen_kwargs={"rows": rows, "size": size, "seed": seed})
        dataset.save_to_disk(folder)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000, help="random images to build (ignored with --data)")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels (CIFAR-10: 32)")
    parser.add_argument("--build", metavar="DIR", help="build the rows into DIR and stop (no training)")
    parser.add_argument("--data", metavar="DIR", help="train on rows built earlier with --build")
    parser.add_argument("--steps", type=int, default=20, help="GAN training steps (fixed, whatever the rows)")
    parser.add_argument("--resolution", type=int, default=32, help="GAN resolution (a power of two)")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=64, help="generator and discriminator base channels")
    parser.add_argument("--num_workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--materialise", action="store_true", help="train from the whole-set tensor (gan_pixels)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import datasets

    datasets.disable_progress_bars()
    if args.build:
        start = time.perf_counter()
        build(args.rows, args.size, args.seed, args.build)
        print(f"built rows={args.rows} size={args.size} folder={args.build} "
              f"wall_s={time.perf_counter() - start:.1f} peak_rss_mib={_peak_rss_mib():.0f}")
        return

    from hf_unlearn.gan import GANImages, GANSettings, gan_pixels, train_gan

    temporary = None
    folder = args.data
    if folder is None:
        temporary = folder = tempfile.mkdtemp(prefix="gan_memory_")
        build(args.rows, args.size, args.seed, folder)
    try:
        dataset = datasets.load_from_disk(folder)
        loaded_rss = _peak_rss_mib()
        settings = GANSettings(generator_channels=args.channels, discriminator_channels=args.channels, epochs=0.0,
                               min_steps=args.steps, batch_size=args.batch_size)
        start = time.perf_counter()
        images = (gan_pixels(dataset, args.resolution, 3) if args.materialise
                  else GANImages(dataset, args.resolution, 3))
        train_gan(images, settings, seed=args.seed, cpu=True, disable_progress=True, num_workers=args.num_workers)
        wall = time.perf_counter() - start
        print(f"rows={len(dataset)} steps={args.steps} batch_size={args.batch_size} resolution={args.resolution} "
              f"path={'materialised tensor' if args.materialise else 'data loader'} wall_s={wall:.1f} "
              f"peak_rss_mib_after_load={loaded_rss:.0f} peak_rss_mib={_peak_rss_mib():.0f}")
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    main()

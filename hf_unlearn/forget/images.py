"""Forgetting given images: each is matched to training rows by its decoded pixels.

What counts as the same image: the same width and height and the same 8-bit RGB pixel values once decoded and
converted the way every image is converted for the model (`data.to_model_mode`: alpha dropped, a palette looked
up, 16-bit scaled). So a copy re-encoded without loss matches, whatever its file format (PNG, BMP, TIFF, lossless
WebP), compression level or metadata; a resized, cropped or lossily re-compressed copy (a JPEG saved again) has
other pixels and does not: it is reported as unmatched.
"""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

import numpy as np

from ..data import _encoded_images, find_image_column, to_model_mode
from ..errors import ForgetSetError
from .match import Resolved

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def pixel_digest(image: Any) -> str:
    """`WxH:sha256` of an image's size and 8-bit RGB pixels (a PIL image, or encoded bytes): the size in front
    lets a match decode only the training images of a given image's size."""
    from PIL import Image as PILImage

    if isinstance(image, (bytes, bytearray)):
        image = PILImage.open(io.BytesIO(image))
    rgb = to_model_mode(image, "RGB")
    size = f"{rgb.width}x{rgb.height}"
    return f"{size}:" + hashlib.sha256(size.encode() + b"|" + np.asarray(rgb, dtype=np.uint8).tobytes()).hexdigest()


def _files(source: str) -> list[str]:
    if os.path.isdir(source):
        found = sorted(os.path.join(root, name) for root, _, names in os.walk(source) for name in names
                       if name.lower().endswith(IMAGE_SUFFIXES))
        if not found:
            raise ForgetSetError(f"forget_images: folder {source!r} holds no image file ({', '.join(IMAGE_SUFFIXES)}).")
        return found
    if not os.path.isfile(source):
        raise ForgetSetError(f"forget_images: {source!r} is neither an image file nor a folder of images.")
    return [source]


def given_images(images: Any) -> tuple[list[str], list[str]]:
    """(pixel digest, name) of every image given: a folder, an image file, a parquet file of a dataset with an image
    column, a list of them, a `datasets.Dataset` with an image column, or PIL images. A file that cannot be read as
    an image is an error naming it."""
    from datasets import Dataset

    def rows_of(dataset: Dataset, prefix: str) -> list[tuple[bytes, str]]:
        column = find_image_column(dataset)
        return [(data, f"{prefix}row {row}") for row, data, _ in _encoded_images(dataset, column, None)]

    if isinstance(images, Dataset):
        pairs = rows_of(images, "")
    else:
        items = [images] if isinstance(images, str) or not isinstance(images, (list, tuple)) else list(images)
        pairs = []
        for item in items:
            if isinstance(item, str) and item.endswith(".parquet") and os.path.isfile(item):
                from datasets import load_dataset  # a dataset of images, e.g. a Hub dataset's parquet file

                pairs += rows_of(load_dataset("parquet", data_files={"images": item})["images"], f"{item} ")
            elif isinstance(item, str):
                pairs += [(path, path) for path in _files(item)]
            else:
                pairs.append((item, f"image {len(pairs)}"))
    if not pairs:
        raise ForgetSetError("forget_images lists no image: nothing to forget.")
    digests, names = [], []
    for item, name in pairs:
        try:
            if isinstance(item, str):
                with open(item, "rb") as f:
                    item = f.read()
            digests.append(pixel_digest(item))
        except ForgetSetError:
            raise
        except Exception as err:
            raise ForgetSetError(f"forget_images: {name} cannot be read as an image ({type(err).__name__}: {err}).") from None
        names.append(name)
    return digests, names


def resolve_images(dataset: Any, wanted: tuple[str, ...], allow_partial: bool, names: dict[str, str]) -> Resolved:
    """The training rows whose image has one of the `wanted` pixel digests. Only rows whose image has the size of
    a wanted image are decoded. Every copy of a wanted image is forgotten; images matching no row are listed and
    refused unless `allow_partial` (then counted)."""
    from PIL import Image as PILImage

    column = find_image_column(dataset)
    sizes = {tuple(int(x) for x in d.split(":", 1)[0].split("x")) for d in wanted}
    want = set(wanted)
    rows: list[int] = []
    found: set[str] = set()
    for row, data, _ in _encoded_images(dataset, column, None):
        try:
            with PILImage.open(io.BytesIO(data)) as img:
                if img.size not in sizes:  # header only: no decode
                    continue
                digest = pixel_digest(img)
        except Exception:  # a broken image is named by the data checks; it is not any given image
            continue
        if digest in want:
            rows.append(row)
            found.add(digest)
    order = [d for d in names if d in want] or list(wanted)  # the order the images were given, when known
    unmatched = [d for d in order if d not in found]
    if unmatched and (not allow_partial or len(unmatched) == len(wanted)):
        listed = [names.get(d, f"image {d[:20]}…") for d in unmatched]
        raise ForgetSetError(
            f"forget_images: {len(unmatched)} of the {len(wanted)} images match no training row: {listed[:20]}. "
            "An image matches when its decoded pixels are those of a training image (same size and RGB values): a "
            "resized, cropped or re-compressed copy does not. Give the images as they are in the training set"
            + (", or set forget_images_partial: true to forget the matched ones and report the others." if
               len(unmatched) < len(wanted) else ".") + " Nothing was changed.")
    return Resolved(np.asarray(sorted(rows), dtype=np.int64), [],
                    {"images_given": len(wanted), "images_matched": len(found), "images_unmatched": len(unmatched)})

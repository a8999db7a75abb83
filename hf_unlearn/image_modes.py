"""Image modes: which PIL modes hf-unlearn converts for a model, how every image reaches 8-bit L or RGB
(`to_model_mode`), and why an encoded image cannot be used (`image_problem`, refused by `refuse_bad_images`).
A leaf beside `options`: `data` re-exports what it always exported."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DataError

#: 8-bit modes converted by PIL's own `Image.convert`, exactly as Transformers' training examples do (and as
#: hf-unlearn always did): alpha (RGBA, LA, PA, a palette's transparency) is dropped, not composited; a palette
#: is looked up; CMYK, YCbCr and HSV go through PIL's formulas (no colour management: an ICC profile is ignored);
#: mode "1" becomes 0 / 255.
_PIL_CONVERTED = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "HSV"})
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
#: Every PIL mode `to_model_mode` converts; any other (e.g. "LAB", "La") is refused before any work.
CONVERTIBLE_MODES = _PIL_CONVERTED | _SIXTEEN_BIT | {"I", "F"}
_GRAYSCALE = frozenset({"1", "L", "LA", "I", "F"}) | _SIXTEEN_BIT
_HOW_TO_FIX = ("convert them to 8-bit 'L' or 'RGB' images (e.g. with PIL) and run again")


def model_mode(pil_mode: str) -> str:
    """The model-side mode of an image in `pil_mode`: "L" for the grayscale family (1, L, LA, I;16, I, F),
    "RGB" for everything else (palette, RGBA, CMYK, YCbCr, ...)."""
    return "L" if pil_mode in _GRAYSCALE else "RGB"


def _range_problem(img: Any) -> str | None:
    """Why the values of a 32-bit integer (`I`) or float (`F`) image cannot be scaled to 8 bits, or None."""
    if img.mode not in ("I", "F"):
        return None
    values = np.asarray(img)
    if values.size == 0:
        return None
    if img.mode == "F":
        if not np.isfinite(values).all():
            return "a float ('F') image has NaN or infinite values"
        low, high = float(values.min()), float(values.max())
        if low < 0.0 or high > 1.0:
            return (f"a float ('F') image has values in [{low:g}, {high:g}]; hf-unlearn reads float images as "
                    "[0, 1] (0 = black, 1 = white): divide 0..255 data by 255")
        return None
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > 65535:
        return (f"a 32-bit integer ('I') image has values in {low}..{high}; hf-unlearn reads 'I' images as "
                "16-bit (0..65535)")
    return None


def to_model_mode(img: Any, mode: str) -> Any:
    """`img` (a PIL image of any mode in `CONVERTIBLE_MODES`) as an 8-bit image of `mode` ("L" or "RGB").

    The one conversion every image takes on its way to a model or a GAN (`ImageTransform`, the GAN's data):

    * 8-bit modes: PIL's own `Image.convert` (see `_PIL_CONVERTED`), so 8-bit L and RGB images give exactly
      what they always gave; RGBA / LA / PA keep their colour and lose their alpha (not composited).
    * 16-bit grayscale (`I;16`, `I;16L`, `I;16B`, `I;16N`): scaled by the full 16-bit range, v / 257 rounded
      (65535 -> 255, 1000 -> 4), instead of PIL's clipping at 255.
    * 32-bit integer `I`: assumed 16-bit (PNG's 16-bit grayscale opens as `I` in some PIL versions), so scaled
      like `I;16`; values outside 0..65535 are refused (DataError), never guessed from each image's own range.
    * float `F`: read as [0, 1] and scaled by 255 (rounded); values outside [0, 1] (or NaN) are refused.
      One rule for the whole dataset: a per-image guess ("max <= 1 means [0, 1]") would scale the images of
      one dataset differently.

    Anything else raises `DataError`; `check_images` / `content_digest(verify=...)` refuse such images, naming
    their rows, before any work starts.
    """
    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be 'L' or 'RGB', got {mode!r}.")
    if img.mode in _PIL_CONVERTED:
        return img.convert(mode)
    if img.mode not in CONVERTIBLE_MODES:
        raise DataError(f"Images of mode {img.mode!r} cannot be converted for the model; {_HOW_TO_FIX}.")
    problem = _range_problem(img)  # I and F: values beyond the scaled range
    if problem:
        raise DataError(f"Cannot scale an image to 8 bits: {problem}; {_HOW_TO_FIX}.")
    if img.mode == "F":
        eight = np.rint(np.asarray(img).astype(np.float64) * 255.0).astype(np.uint8)
    else:  # 16-bit modes and I
        values = np.asarray(img).astype(np.int64)
        eight = ((values + 128) // 257).astype(np.uint8)  # round(v / 257), exactly, in integers
    from PIL import Image as PILImage

    gray = PILImage.fromarray(np.ascontiguousarray(eight))
    return gray if mode == "L" else gray.convert("RGB")


def image_problem(data: bytes) -> str | None:
    """Why the encoded image cannot be used: "corrupt" when PIL cannot open and decode it (structure checked, then
    every pixel decoded: a JPEG whose tail is damaged passes the structure check), "mode" when its mode cannot be converted, "range" (values beyond what `to_model_mode`
    scales: only `I` and `F` images are decoded for that), "missing" (no image, or its file is gone), or None."""
    import io

    from PIL import Image as PILImage

    if not data:
        return "missing"
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            mode = img.mode
            img.verify()
        with PILImage.open(io.BytesIO(data)) as img:  # and decoded: a damaged tail passes verify() (JPEG)
            img.load()
    except Exception:
        return "corrupt"
    if mode not in CONVERTIBLE_MODES:
        return f"mode {mode!r}"
    if mode in ("I", "F"):
        try:
            with PILImage.open(io.BytesIO(data)) as img:
                problem = _range_problem(img)
        except Exception:
            return "corrupt"
        return problem
    return None


def refuse_bad_images(problems: dict[int, str], what: str) -> None:
    """Raise `DataError` naming the rows whose images are corrupt or cannot be converted for the model."""
    if not problems:
        return
    missing = [row for row, problem in problems.items() if problem == "missing"]
    if missing:
        raise DataError(f"{len(missing)} row(s) of the {what} have no image (None, or a file that does not exist: "
                        f"rows {missing[:10]}): restore the files or remove those rows (dataset.filter / select) and "
                        "run again.")
    corrupt = [row for row, problem in problems.items() if problem == "corrupt"]
    if corrupt:
        raise DataError(f"{len(corrupt)} image(s) of the {what} cannot be decoded (rows {corrupt[:10]}): re-encode "
                        "or remove them (e.g. dataset.select([...]) without those rows) and run again.")
    rows = sorted(problems)
    modes = sorted({problem for problem in problems.values() if problem.startswith("mode ")})
    if modes:
        bad = [row for row in rows if problems[row].startswith("mode ")]
        raise DataError(f"{len(bad)} image(s) of the {what} are in a colour mode hf-unlearn cannot convert for the "
                        f"model ({', '.join(modes)}; rows {bad[:10]}): {_HOW_TO_FIX}. Convertible modes: "
                        f"{', '.join(sorted(CONVERTIBLE_MODES))}.")
    raise DataError(f"{len(rows)} image(s) of the {what} cannot be scaled to 8 bits (rows {rows[:10]}; row {rows[0]}: "
                    f"{problems[rows[0]]}): {_HOW_TO_FIX}.")

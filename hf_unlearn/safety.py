"""Safe inputs and outputs: models loaded from safetensors only (unless the user opts in), input model files
hashed before and after, output folders checked for write access and free space before any work."""

from __future__ import annotations

import hashlib
import os
import shutil
from typing import Any

from .errors import TrainingDivergedError, UnsafeInputError
from .options import OptionError

__all__ = ["TrainingDivergedError", "UnsafeInputError", "cache_folders", "check_folder_unchanged",
           "check_model_folder", "check_output_apart", "check_output_dir", "estimated_output_bytes", "folder_digest",
           "input_model_record", "is_secret_key", "load_pretrained", "same_path", "write_json_atomic",
           "write_text_atomic"]

#: Weight files that unpickle Python objects (loading one can run arbitrary code).
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.ckpt", "tf_model.h5")


def is_secret_key(key: str) -> bool:
    """Whether a config key or option names a credential (hub_token, push_to_hub_token, api_key, ...)."""
    return "token" in key.lower() or key.lower() in ("password", "api_key")


def same_path(a: str, b: str) -> bool:
    """Whether two paths name the same file or folder (symlinks resolved)."""
    return os.path.realpath(os.path.abspath(a)) == os.path.realpath(os.path.abspath(b))


def cache_folders(**datasets: Any) -> dict[str, str]:
    """The folders holding each named dataset's Arrow cache files (none for an in-memory dataset)."""
    files = {name: getattr(data, "cache_files", None) for name, data in datasets.items()}
    return {f"the {name} set's cache folder": os.path.dirname(found[0]["filename"])
            for name, found in files.items() if isinstance(found, list) and found}


def check_output_apart(output_dir: str, protected: dict[str, str | None], option: str = "output_dir") -> None:
    """Refuse an `output_dir` equal to, inside, or containing a folder the run must never write into
    (`protected`: what it is -> path, e.g. the input model's folder, a dataset's folder). Symlinks resolved."""
    out = os.path.realpath(os.path.abspath(output_dir))
    for what, folder in protected.items():
        if not folder or not os.path.exists(folder):
            continue
        path = os.path.realpath(os.path.abspath(folder))
        if out == path:
            problem = f"is {what}: the original would be overwritten"
        elif os.path.commonpath([out, path]) == path:
            problem = f"lies inside {what} ({folder!r}): hf-unlearn never writes into it"
        elif os.path.commonpath([out, path]) == out:
            problem = f"contains {what} ({folder!r}): the run's files would be written around it and could replace it"
        else:
            continue
        raise UnsafeInputError(f"{option} {output_dir!r} {problem}. Choose an --{option} outside it, e.g. "
                               f"{os.path.join(os.path.dirname(path) if out != os.path.dirname(path) else '.', 'unlearned')!r}.")


def input_model_record(source: str, model: Any) -> dict[str, Any]:
    """Where the input model came from, the SHA-256 of its local folder (None for a Hub id or an instance) and
    its Hub revision: recorded in the results, and checked unchanged when the run ends."""
    return {"source": source or None, "sha256": folder_digest(source) if source and os.path.isdir(source) else None,
            "revision": getattr(model.config, "_commit_hash", None), "weights_sha256": weights_digest(model)}


def weights_digest(model: Any) -> str:
    """SHA-256 of a model's weights (every state-dict tensor: name, dtype, shape and bytes, in name order):
    which model a prepared generator belongs to, whether it came as an instance, a folder or a Hub id."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode() + b"\0")
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def check_folder_unchanged(path: str | None, sha256_before: str | None) -> None:
    """A folder hashed with `folder_digest` before a run must be byte for byte the same after it."""
    if sha256_before and folder_digest(path) != sha256_before:
        raise RuntimeError(f"The input model folder {path!r} changed during the run (sha256 {sha256_before[:12]}…). "
                           "hf-unlearn never writes there: check for another process writing to it.")


def folder_digest(path: str) -> str:
    """SHA-256 over every file of a folder (relative paths and contents, in sorted order)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            digest.update(os.path.relpath(full, path).encode() + b"\0")
            with open(full, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def check_model_folder(path: str, allow_pickle: bool = False) -> None:
    """A local model folder must hold a config and safetensors weights (pickle weights only on request)."""
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise UnsafeInputError(f"{path!r} holds no config.json: it is not a saved transformers model. Give the folder "
                               "written by save_pretrained (or a Hub id).")
    files = set(os.listdir(path))
    safetensors = any(f.endswith(".safetensors") or f == "model.safetensors.index.json" for f in files)
    if not safetensors and not (files & set(PICKLE_WEIGHTS)):
        raise UnsafeInputError(f"{path!r} holds no model weights (model.safetensors): the checkpoint is incomplete. "
                               "Save it again with save_pretrained.")
    if not safetensors and not allow_pickle:
        raise UnsafeInputError(
            f"{path!r} holds only pickle weights ({', '.join(sorted(files & set(PICKLE_WEIGHTS)))}); loading them can "
            "run arbitrary code. Convert them to safetensors (model.save_pretrained(dir) in a trusted environment), "
            "or set allow_pickle_weights: true if you trust the file.")


def load_pretrained(cls: Any, name_or_path: str, allow_pickle: bool = False, weights: bool = True, **kwargs: Any) -> Any:
    """`cls.from_pretrained` with safetensors required for weights (unless `allow_pickle`) and errors that say
    what to do. `weights=False` for configs and image processors (JSON only)."""
    import re

    looks_local = os.path.isabs(name_or_path) or name_or_path.startswith(".") or not re.fullmatch(
        r"[\w.-]+(/[\w.-]+)?", name_or_path)
    if looks_local and not os.path.exists(name_or_path):
        raise UnsafeInputError(f"Could not load model {name_or_path!r}: no such folder. Give a folder written by "
                               "save_pretrained or a Hub id (org/name).")
    if weights:
        if os.path.isdir(name_or_path):
            check_model_folder(name_or_path, allow_pickle)
        kwargs["use_safetensors"] = None if allow_pickle else True
    try:
        return cls.from_pretrained(name_or_path, **kwargs)
    except OSError as err:
        raise UnsafeInputError(f"Could not load model {name_or_path!r}: {str(err).splitlines()[0]} Give a folder "
                               "written by save_pretrained or a Hub id you can access (HF_TOKEN for private ones).") from None
    except Exception as err:  # a corrupt file: safetensors / JSON decoding errors
        raise UnsafeInputError(f"Model {name_or_path!r} is corrupt or unreadable ({type(err).__name__}: "
                               f"{str(err).splitlines()[0] if str(err) else ''}). Save it again, or re-download it.") from None


def check_output_dir(path: str, needed_bytes: int = 0) -> None:
    """Refuse an output folder that cannot be written, or a disk without room for `needed_bytes`."""
    probe_dir = path
    while probe_dir and not os.path.exists(probe_dir):
        probe_dir = os.path.dirname(probe_dir) or "."
    probe_dir = probe_dir or "."
    if not os.access(probe_dir, os.W_OK | os.X_OK) or not os.path.isdir(probe_dir):
        raise UnsafeInputError(f"output_dir {path!r} cannot be written ({probe_dir!r} is not a writable folder). "
                               "Choose another --output_dir.")
    free = shutil.disk_usage(probe_dir).free
    if needed_bytes and free < needed_bytes:
        raise UnsafeInputError(f"Not enough disk space for output_dir {path!r}: about {needed_bytes / 1e6:.0f} MB are "
                               f"needed, {free / 1e6:.0f} MB are free. Free space or choose another --output_dir.")


def estimated_output_bytes(model: Any, extra_bytes: int = 0) -> int:
    """A generous estimate of what a run writes: the model (plus a checkpoint copy), evidence, and what the method
    writes beside them (`extra_bytes`, e.g. Multi-GAN's generators)."""
    model_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return int(3 * model_bytes + extra_bytes + 10e6)


def write_text_atomic(path: str, text: str) -> None:
    """Write `text` beside `path` and move it into place: a reader never sees half a file."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def write_json_atomic(path: str, payload: Any) -> None:
    """`write_text_atomic` for JSON (indented, non-JSON values as strings)."""
    import json

    write_text_atomic(path, json.dumps(payload, indent=2, default=str))


def check_replaceable(output_dir: str, marker_file: str) -> None:
    """A preparation replaces its folder: refuse a folder that holds other files (no `marker_file` of an
    earlier preparation), naming it."""
    if os.path.isdir(output_dir) and os.listdir(output_dir) and not os.path.isfile(
            os.path.join(output_dir, marker_file)):
        raise OptionError(f"output_dir = {output_dir!r} holds other files (no {marker_file}): a preparation "
                          "replaces its folder, so give it a new or empty folder.")


def replace_folder(staging: str, output_dir: str) -> None:
    """Move the finished `staging` folder to `output_dir`, replacing an earlier one only once it is complete."""
    old = output_dir.rstrip("/") + ".old"
    if os.path.isdir(output_dir):
        os.rename(output_dir, old)
    os.replace(staging, output_dir)
    shutil.rmtree(old, ignore_errors=True)


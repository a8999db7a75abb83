"""Optional LoRA fine-tuning (peft) for models too large to fine-tune in full: adapters on the linear layers,
the classification head trained in full, merged back before saving so the output stays a plain
`AutoModelForImageClassification` folder (drop-in for the original)."""

from __future__ import annotations

from typing import Any

import torch


def wrap_with_lora(model: torch.nn.Module, args: Any) -> torch.nn.Module:
    """`model` with LoRA adapters (`args.lora_*`); only the adapters and `lora_modules_to_save` train."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ImportError("use_peft needs peft: `pip install hf-unlearn[peft]` (or `pip install peft`).") from None
    config = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                        target_modules=args.lora_target_modules or "all-linear",
                        modules_to_save=args.lora_modules_to_save)
    return get_peft_model(model, config)


def is_lora(model: torch.nn.Module) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def merged(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model with the adapters folded into its weights (a no-op for a model without adapters)."""
    return model.merge_and_unload() if is_lora(model) else model


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """All parameters, and those that train (fewer with LoRA adapters), as the results record them."""
    return {"parameters": sum(p.numel() for p in model.parameters()),
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)}

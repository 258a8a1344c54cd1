"""ROS-SAM's trainable set, by recipe.

``project``: LoRA, the last encoder block, SAM's mask decoder (inside the HQ path) and the HQ
modules. ``reference``: what the authors' code effectively trains: LoRA, the last encoder
block, the prompt encoder (never frozen there) and the HQ modules; SAM's decoder is in their
optimiser but its output never reaches the loss, so it gets no gradient and stays as loaded.
"""

from __future__ import annotations

from torch import nn

from .lora import lora_modules

GROUPS = ("lora", "last_block", "sam_decoder", "prompt_encoder", "hq", "other")
TRAINED = {
    "project": {"lora", "last_block", "sam_decoder", "hq"},
    "reference": {"lora", "last_block", "prompt_encoder", "hq"},
}


def parameter_groups(model: nn.Module) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """Every parameter in exactly one group (``other``: what ROS-SAM keeps frozen)."""
    hq_ids = {id(p) for p in model.mask_decoder.hq_parameters()}
    lora_ids = {id(p) for m in lora_modules(model) for sub in (m.lora_q, m.lora_v) for p in sub.parameters()}
    last = len(model.image_encoder.blocks) - 1
    groups: dict[str, list] = {g: [] for g in GROUPS}
    for name, p in model.named_parameters():
        if id(p) in lora_ids:
            g = "lora"
        elif id(p) in hq_ids:
            g = "hq"
        elif name.startswith(f"image_encoder.blocks.{last}."):
            g = "last_block"
        elif name.startswith("mask_decoder."):
            g = "sam_decoder"
        elif name.startswith("prompt_encoder."):
            g = "prompt_encoder"
        else:
            g = "other"
        groups[g].append((name, p))
    return groups


def set_trainable(model: nn.Module, train_all: bool = False, recipe: str = "project") -> dict[str, list[nn.Parameter]]:
    """Freeze all but the recipe's trainable set (or nothing, with ``train_all``, for a model
    trained from scratch such as ``tiny``). Returns the trainable parameters of the two
    optimiser groups: ``hq`` (the HQ modules) and ``sam`` (the rest that trains)."""
    if recipe not in TRAINED:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(TRAINED)}")
    groups = parameter_groups(model)
    sam, hq = [], []
    for g, params in groups.items():
        for _, p in params:
            train = train_all or g in TRAINED[recipe]
            p.requires_grad_(train)
            if train:
                (hq if g == "hq" else sam).append(p)
    return {"sam": sam, "hq": hq}


def parameter_report(model: nn.Module) -> dict[str, dict[str, int]]:
    """Trainable and frozen parameter counts by group."""
    out = {}
    for g, params in parameter_groups(model).items():
        out[g] = {
            "trainable": sum(p.numel() for _, p in params if p.requires_grad),
            "frozen": sum(p.numel() for _, p in params if not p.requires_grad),
        }
    return out

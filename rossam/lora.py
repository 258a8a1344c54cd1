"""LoRA on the query and value slices of the image encoder's fused ``qkv`` projections.

``LoRAQKV`` replaces an encoder block's ``attn.qkv`` ``nn.Linear`` in place. It keeps the
linear's ``weight`` and ``bias`` under their own names (so SAM checkpoints load unchanged) and
adds two low-rank adapters, ``lora_q`` and ``lora_v``, each an ``A`` (down) and ``B`` (up)
projection. ``B`` starts at zero, so a fresh adapter leaves the model unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LoRAConfig:
    """ROS-SAM's adapter: rank 512 on every encoder block."""

    rank: int = 512
    blocks: tuple[int, ...] | None = None  # None: every block

    def __post_init__(self):
        if not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"LoRAConfig.rank must be a positive integer, got {self.rank!r}")
        if self.blocks is not None:
            self.blocks = tuple(int(b) for b in self.blocks)
            if any(b < 0 for b in self.blocks):
                raise ValueError(f"LoRAConfig.blocks must be non-negative, got {self.blocks}")


class LowRank(nn.Module):
    def __init__(self, in_features: int, out_features: int, rank: int):
        super().__init__()
        self.A = nn.Linear(in_features, rank, bias=False)
        self.B = nn.Linear(rank, out_features, bias=False)
        nn.init.kaiming_uniform_(self.A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.B.weight)

    def delta_weight(self) -> torch.Tensor:
        return self.B.weight @ self.A.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.B(self.A(x))


class LoRAQKV(nn.Linear):
    """A fused qkv projection with low-rank updates on its q and v thirds."""

    def __init__(self, base: nn.Linear, rank: int):
        super().__init__(base.in_features, base.out_features, bias=base.bias is not None)
        self.weight = base.weight
        self.bias = base.bias
        dim = base.in_features
        if base.out_features != 3 * dim:
            raise ValueError(f"qkv projection must map {dim} to {3 * dim}, got {base.out_features}")
        self.dim = dim
        self.lora_q = LowRank(dim, dim, rank).to(dtype=base.weight.dtype, device=base.weight.device)
        self.lora_v = LowRank(dim, dim, rank).to(dtype=base.weight.dtype, device=base.weight.device)
        self._unmerged_weight: torch.Tensor | None = None

    @property
    def merged(self) -> bool:
        return self._unmerged_weight is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight, self.bias)
        if self.merged:
            return out
        d = self.dim
        dq = self.lora_q(x)
        dv = self.lora_v(x)
        return torch.cat([out[..., :d] + dq, out[..., d : 2 * d], out[..., 2 * d :] + dv], dim=-1)

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the adapters into ``weight``. ``unmerge`` restores the exact previous weight."""
        if self.merged:
            return
        self._unmerged_weight = self.weight.detach().clone()
        d = self.dim
        self.weight[:d] += self.lora_q.delta_weight().to(self.weight.dtype)
        self.weight[2 * d :] += self.lora_v.delta_weight().to(self.weight.dtype)

    @torch.no_grad()
    def unmerge(self) -> None:
        if not self.merged:
            return
        self.weight.copy_(self._unmerged_weight)
        self._unmerged_weight = None

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.lora_q.A.out_features}"


def add_lora(image_encoder: nn.Module, config: LoRAConfig) -> list[int]:
    """Wrap the qkv projection of the configured blocks; returns the block indices wrapped."""
    depth = len(image_encoder.blocks)
    blocks = range(depth) if config.blocks is None else config.blocks
    for i in blocks:
        if i >= depth:
            raise ValueError(f"LoRAConfig.blocks names block {i}, but the encoder has {depth} blocks")
        attn = image_encoder.blocks[i].attn
        if isinstance(attn.qkv, LoRAQKV):
            raise ValueError(f"block {i} already has a LoRA adapter")
        attn.qkv = LoRAQKV(attn.qkv, config.rank)
    return list(blocks)


def lora_modules(model: nn.Module) -> list[LoRAQKV]:
    return [m for m in model.modules() if isinstance(m, LoRAQKV)]


def merge_lora(model: nn.Module) -> None:
    for m in lora_modules(model):
        m.merge()


def unmerge_lora(model: nn.Module) -> None:
    for m in lora_modules(model):
        m.unmerge()


def remove_lora(model: nn.Module) -> None:
    """Merge every adapter and put plain ``nn.Linear`` projections back (for export)."""
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoRAQKV):
                child.merge()
                plain = nn.Linear(child.in_features, child.out_features, bias=child.bias is not None)
                plain.weight = nn.Parameter(child.weight.detach().clone())
                if child.bias is not None:
                    plain.bias = nn.Parameter(child.bias.detach().clone())
                setattr(module, child_name, plain)


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if ".lora_q." in k or ".lora_v." in k}


def save_lora(model: nn.Module, path: str | Path) -> None:
    from safetensors.torch import save_file

    from .checkpoint import atomic_path

    state = {k: v.detach().contiguous().cpu() for k, v in lora_state_dict(model).items()}
    if not state:
        raise ValueError("the model has no LoRA adapters to save")
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "rossam-lora"})


def load_lora(model: nn.Module, path: str | Path) -> None:
    from .checkpoint import load_safetensors, strict_load

    state = load_safetensors(path)
    expected = lora_state_dict(model)
    strict_load(model, state, path, only=set(expected))

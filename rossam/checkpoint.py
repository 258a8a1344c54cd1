"""Reading and writing checkpoints, strictly.

Formats read (``inspect_checkpoint`` tells which a path holds):

- ``sam``: an official SAM ``.pth``, a flat state dict with prefixes ``image_encoder.``,
  ``prompt_encoder.``, ``mask_decoder.``; the model then has SAM's plain decoder.
- ``hq_sam``: an official HQ-SAM ``.pth``: SAM's keys plus HQ-SAM's under ``mask_decoder.``.
- ``maskdecoder``: ``sam_vit_*_maskdecoder.pth``, SAM's decoder alone with no prefix (used to
  start training; see ``load_maskdecoder``).
- ``rossam_state``: a ROS-SAM training state folder written by accelerate's ``save_state`` in
  the reference code: ``model.safetensors`` holds the HQ decoder (no prefix),
  ``model_1.safetensors`` SAM with LoRA-wrapped qkv projections
  (``...attn.qkv.qkv.weight``, ``...attn.qkv.linear_a_q.weight``, ``linear_b_q``,
  ``linear_a_v``, ``linear_b_v``).
- ``rossam``: the project's own single-file safetensors, with the build configuration in its
  metadata.

Missing or unexpected keys are an error that names them; nothing is silently ignored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

PREFIXES = ("image_encoder.", "prompt_encoder.", "mask_decoder.")
HQ_KEY = "mask_decoder.hf_token.weight"
STATE_DECODER = "model.safetensors"
STATE_SAM = "model_1.safetensors"
_REFERENCE_LORA = {
    "qkv.qkv.": "qkv.",
    "qkv.linear_a_q.": "qkv.lora_q.A.",
    "qkv.linear_b_q.": "qkv.lora_q.B.",
    "qkv.linear_a_v.": "qkv.lora_v.A.",
    "qkv.linear_b_v.": "qkv.lora_v.B.",
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message names the file."""


@dataclass
class CheckpointInfo:
    path: Path
    format: str
    hq: bool
    lora_rank: int | None = None
    lora_blocks: tuple[int, ...] | None = None
    metadata: dict | None = None


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None


def _safetensors_metadata(path: Path) -> dict:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None


def _torch_load(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # never loaded with weights_only=False: unpickling arbitrary objects can run code
        raise CheckpointError(f"{path}: holds Python objects, not only tensors ({_pickled_objects(path)}); "
                              "it is not loaded: save the model's state_dict() instead") from None
    except Exception as e:  # torch raises many types for a truncated or foreign file
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {first})") from None
    for key in ("model", "state_dict"):  # a training state around the weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        what = f"a dict with keys {_names(state)}" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise CheckpointError(f"{path}: expected a flat state dict of tensors, found {what}")
    return state


def _pickled_objects(path: Path, limit: int = 3) -> str:
    """The classes a torch.save file pickles, read from its opcodes without running them."""
    import pickletools
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    except (zipfile.BadZipFile, StopIteration, OSError):
        return "an old or foreign pickle format"
    found, strings = [], []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                strings.append(arg)
            elif op.name == "GLOBAL":
                found.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
    except Exception:  # a damaged pickle: report what was read
        pass
    names = [n for n in dict.fromkeys(found) if not n.startswith(("torch.", "collections.OrderedDict"))]
    return "objects of " + ", ".join(names[:limit]) if names else "pickled objects"


def _lora_blocks(keys, pattern: str) -> tuple[int, ...]:
    """Block indices of the keys matching ``pattern`` (its group 1 is the index)."""
    return tuple(sorted({int(m.group(1)) for k in keys if (m := re.match(pattern, k))}))


def inspect_checkpoint(path: str | Path) -> CheckpointInfo:
    path = Path(path)
    if path.is_dir():
        if not (path / STATE_DECODER).is_file() or not (path / STATE_SAM).is_file():
            raise CheckpointError(
                f"{path}: a ROS-SAM training state folder needs {STATE_DECODER} and {STATE_SAM}"
            )
        sam = load_safetensors(path / STATE_SAM)
        blocks = _lora_blocks(sam, r"image_encoder\.blocks\.(\d+)\.attn\.qkv\.linear_a_q\.weight")
        rank = sam[f"image_encoder.blocks.{blocks[0]}.attn.qkv.linear_a_q.weight"].shape[0] if blocks else None
        # the reference code trains and evaluates the HQ mask alone
        return CheckpointInfo(path, "rossam_state", hq=True, lora_rank=rank, lora_blocks=blocks or None,
                              metadata={"hq_token_only": True})
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        meta = _safetensors_metadata(path)
        if meta.get("format") != "rossam":
            raise CheckpointError(f"{path}: safetensors file without ROS-SAM metadata (format={meta.get('format')!r})")
        config = json.loads(meta.get("config", "{}"))
        lora = config.get("lora")
        return CheckpointInfo(
            path,
            "rossam",
            hq=bool(config.get("hq", True)),
            lora_rank=lora["rank"] if lora else None,
            lora_blocks=tuple(lora["blocks"]) if lora and lora.get("blocks") is not None else None,
            metadata=config,
        )
    state = _torch_load(path)
    if any(k.startswith(PREFIXES) for k in state):
        return CheckpointInfo(path, "hq_sam" if HQ_KEY in state else "sam", hq=HQ_KEY in state)
    if "iou_token.weight" in state:
        return CheckpointInfo(path, "maskdecoder", hq="hf_token.weight" in state)
    raise CheckpointError(f"{path}: not a SAM, HQ-SAM or mask decoder checkpoint (first keys: {list(state)[:3]})")


def _names(keys, limit: int = 5) -> str:
    keys = sorted(keys)
    more = f" ... ({len(keys)} in all)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def strict_load(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    source,
    *,
    only: set[str] | None = None,
    allow_missing: set[str] = frozenset(),
) -> None:
    """Load ``state`` into ``model``; raise naming missing, unexpected or mis-shaped keys."""
    expected = model.state_dict()
    if only is not None:
        expected = {k: v for k, v in expected.items() if k in only}
    missing = set(expected) - set(state) - set(allow_missing)
    unexpected = set(state) - set(expected)
    problems = []
    if missing:
        problems.append(f"missing keys: {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_names(unexpected)}")
    for k in sorted(set(state) & set(expected)):
        if tuple(state[k].shape) != tuple(expected[k].shape):
            problems.append(
                f"shape mismatch for {k}: checkpoint {tuple(state[k].shape)}, model {tuple(expected[k].shape)}"
            )
            break
    if problems:
        raise CheckpointError(f"{source}: " + "; ".join(problems))
    model.load_state_dict(state, strict=False)


def _lora_keys(model: nn.Module) -> set[str]:
    return {k for k in model.state_dict() if ".lora_q." in k or ".lora_v." in k}


def _map_reference_sam_key(key: str) -> str:
    for old, new in _REFERENCE_LORA.items():
        if f".attn.{old}" in key:
            return key.replace(f".attn.{old}", f".attn.{new}")
    return key


def read_rossam_state(path: Path) -> dict[str, torch.Tensor]:
    """Map a reference training state folder onto this project's names."""
    decoder = load_safetensors(path / STATE_DECODER)
    sam = load_safetensors(path / STATE_SAM)
    state = {f"mask_decoder.{k}": v for k, v in decoder.items()}
    dropped = [k for k in sam if k.startswith("mask_decoder.")]
    if dropped:
        # The reference decodes with the HQ decoder of model.safetensors, which carries its own
        # (trained) copy of SAM's decoder; model_1's copy is SAM's, unused at inference.
        log.info("%s: using the HQ decoder of %s; %d SAM decoder keys of %s are not used",
                 path, STATE_DECODER, len(dropped), STATE_SAM)
    for k, v in sam.items():
        if not k.startswith("mask_decoder."):
            state[_map_reference_sam_key(k)] = v
    return state


def load_checkpoint(model: nn.Module, path: str | Path, info: CheckpointInfo | None = None) -> CheckpointInfo:
    info = info or inspect_checkpoint(path)
    path = info.path
    if info.format == "maskdecoder":
        raise CheckpointError(
            f"{path}: a mask decoder checkpoint holds no encoder; build with maskdecoder={str(path)!r} instead"
        )
    if info.hq != model.hq:
        kind = "an HQ" if info.hq else "a plain SAM"
        raise CheckpointError(f"{path}: holds {kind} decoder, the model was built with hq={model.hq}")
    if info.format in ("sam", "hq_sam"):
        state = _torch_load(path)
        strict_load(model, state, path, allow_missing=_lora_keys(model))
    elif info.format == "rossam_state":
        strict_load(model, read_rossam_state(path), path)
    else:
        meta_variant = (info.metadata or {}).get("variant")
        if meta_variant and meta_variant != model.variant.name:
            raise CheckpointError(f"{path}: holds variant {meta_variant!r}, the model is {model.variant.name!r}")
        strict_load(model, load_safetensors(path), path)
    return info


def load_maskdecoder(model: nn.Module, path: str | Path) -> None:
    """Load ``sam_vit_*_maskdecoder.pth`` into the decoder's SAM part (HQ modules stay new)."""
    path = Path(path)
    state = _torch_load(path)
    sam_part = {k for k in model.mask_decoder.state_dict() if not k.startswith(
        ("hf_token.", "hf_mlp.", "compress_vit_feat.", "embedding_encoder.", "embedding_maskfeature."))}
    strict_load(model.mask_decoder, state, path, only=sam_part)


def save_rossam(model: nn.Module, path: str | Path, *, half: bool = False, extra: dict | None = None) -> None:
    """The project's single-file safetensors: weights plus the build configuration."""
    from safetensors.torch import save_file

    from .lora import lora_modules

    lora = lora_modules(model)
    if any(m.merged for m in lora):
        raise ValueError("unmerge the LoRA adapters (or remove_lora) before saving: merged weights would apply them twice")
    config = {
        "variant": model.variant.name,
        "hq": model.hq,
        "hq_token_only": model.hq_token_only,
        "lora": None,
        **(extra or {}),
    }
    if lora:
        blocks = [i for i, b in enumerate(model.image_encoder.blocks) if b.attn.qkv in lora]
        config["lora"] = {"rank": lora[0].lora_q.A.out_features, "blocks": blocks}
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        state[k] = v.contiguous()
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "rossam", "config": json.dumps(config)})

"""One builder and a registry of variants (as segment_anything's ``sam_model_registry``)."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import torch
from segment_anything.modeling import ImageEncoderViT, PromptEncoder, TwoWayTransformer

from .decoder import RosSamMaskDecoder
from .lora import LoRAConfig, add_lora
from .model import RosSam
from .variants import VARIANTS, Variant, get_variant

log = logging.getLogger(__name__)

EMBEDDED_WEIGHTS = Path(__file__).parent / "weights" / "tiny.safetensors"


def _build(variant: Variant, hq: bool, lora: LoRAConfig | None) -> RosSam:
    s = variant.embedding_size
    encoder = ImageEncoderViT(
        depth=variant.depth,
        embed_dim=variant.embed_dim,
        img_size=variant.img_size,
        mlp_ratio=4,
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        num_heads=variant.num_heads,
        patch_size=variant.patch_size,
        qkv_bias=True,
        use_rel_pos=True,
        global_attn_indexes=variant.global_attn_indexes,
        window_size=variant.window_size,
        out_chans=variant.prompt_dim,
    )
    prompt_encoder = PromptEncoder(
        embed_dim=variant.prompt_dim,
        image_embedding_size=(s, s),
        input_image_size=(variant.img_size, variant.img_size),
        mask_in_chans=16,
    )
    decoder = RosSamMaskDecoder(
        num_multimask_outputs=3,
        transformer=TwoWayTransformer(
            depth=2,
            embedding_dim=variant.prompt_dim,
            mlp_dim=variant.decoder_mlp_dim,
            num_heads=variant.decoder_heads,
        ),
        transformer_dim=variant.prompt_dim,
        iou_head_depth=3,
        iou_head_hidden_dim=256,
        vit_dim=variant.embed_dim,
        hq=hq,
    )
    model = RosSam(variant, encoder, prompt_encoder, decoder)
    if lora is not None:
        add_lora(model.image_encoder, lora)
    return model


def build_rossam(
    variant: str = "tiny",
    checkpoint: str | Path | None = "default",
    *,
    hq: bool | None = None,
    lora: LoRAConfig | None = None,
    maskdecoder: str | Path | None = None,
) -> RosSam:
    """Build a variant and load a checkpoint into it, strictly.

    checkpoint: ``"default"`` loads the embedded weights for ``tiny``; the official variants
    have none (their weights cannot ship) and refuse it; ``None`` keeps random weights; a path may be
    any format ``rossam.checkpoint`` reads (SAM, HQ-SAM, ROS-SAM training state, the project's
    safetensors). ``hq``: ``None`` picks what the checkpoint holds (plain SAM checkpoints give a
    SAM decoder, so SAM and ROS-SAM compare through one predictor). ``maskdecoder`` loads
    ``sam_vit_*_maskdecoder.pth`` into the decoder's SAM part (to start training).
    """
    from .checkpoint import inspect_checkpoint, load_checkpoint

    spec = get_variant(variant)
    if checkpoint == "default":
        if variant != "tiny":
            raise ValueError(f"{variant} has no embedded weights: give --checkpoint (an official SAM or HQ-SAM .pth, "
                             "a ROS-SAM training state) or --random-init to run it with random weights")
        checkpoint = EMBEDDED_WEIGHTS
        if checkpoint is not None and not Path(checkpoint).exists():
            log.warning("embedded tiny weights are missing (%s): using random weights", checkpoint)
            checkpoint = None
    info = inspect_checkpoint(checkpoint) if checkpoint is not None else None
    if hq is None:
        hq = info.hq if info is not None else True
    if lora is None and info is not None and info.lora_rank:
        lora = LoRAConfig(rank=info.lora_rank, blocks=info.lora_blocks)
    model = _build(spec, hq=hq, lora=lora)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, info=info)
        model.hq_token_only = bool((info.metadata or {}).get("hq_token_only", False))
    if maskdecoder is not None:
        from .checkpoint import load_maskdecoder

        load_maskdecoder(model, maskdecoder)
    return model


def _registered(name: str):
    def builder(checkpoint=None, **kwargs):
        return build_rossam(name, checkpoint, **kwargs)

    builder.__name__ = f"build_rossam_{name}"
    return builder


rossam_model_registry = {name: _registered(name) for name in VARIANTS}

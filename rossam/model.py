"""The ROS-SAM module: SAM's encoder (optionally with LoRA), prompt encoder and HQ decoder."""

from __future__ import annotations

import torch
from segment_anything.modeling import ImageEncoderViT, PromptEncoder
from torch import nn

from .decoder import DecoderOutput, RosSamMaskDecoder
from .variants import Variant

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


class RosSam(nn.Module):
    """A pure module: batched windows in, per-prompt mask logits out.

    ``encode`` takes normalised-or-raw [W, 3, S, S] windows; the output of the first
    global-attention block is captured with a forward hook (HQ-SAM's "early ViT feature"), so
    ``segment_anything``'s encoder is used as it is.
    """

    def __init__(
        self,
        variant: Variant,
        image_encoder: ImageEncoderViT,
        prompt_encoder: PromptEncoder,
        mask_decoder: RosSamMaskDecoder,
    ):
        super().__init__()
        self.variant = variant
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        # decode with the HQ logits alone (set from the checkpoint's metadata when it was trained so)
        self.hq_token_only = False
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(-1, 1, 1), persistent=False)
        self._early: torch.Tensor | None = None
        self.image_encoder.blocks[variant.early_block].register_forward_hook(self._capture_early)

    def _capture_early(self, module, inputs, output):
        self._early = output

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @property
    def hq(self) -> bool:
        return self.mask_decoder.hq

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[W, 3, S, S] RGB in 0..255 to the encoder's normalised input."""
        return (images - self.pixel_mean) / self.pixel_std

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised [W, 3, S, S] windows -> (embeddings [W, C, s, s], early [W, s, s, D])."""
        self._early = None
        embeddings = self.image_encoder(images)
        early, self._early = self._early, None
        return embeddings, early

    def decode(
        self,
        embeddings: torch.Tensor,
        early: torch.Tensor | None,
        window_index: torch.Tensor,
        boxes: torch.Tensor,
        multimask_output: bool = False,
        hq_token_only: bool = False,
    ) -> DecoderOutput:
        """Boxes [N, 4] xyxy in encoder-input pixels, each in window ``window_index[n]``."""
        sparse, dense = self.prompt_encoder(points=None, boxes=boxes, masks=None)
        return self.mask_decoder.decode(
            embeddings,
            early,
            window_index,
            self.prompt_encoder.get_dense_pe(),
            sparse,
            dense,
            multimask_output=multimask_output,
            hq_token_only=hq_token_only,
        )

    def forward(self, images, window_index, boxes, hq_token_only: bool = False) -> DecoderOutput:
        embeddings, early = self.encode(self.preprocess(images))
        return self.decode(embeddings, early, window_index, boxes, hq_token_only=hq_token_only)

"""SAM's mask decoder with HQ-SAM's high-quality output token, batched over windows.

The class extends ``segment_anything``'s ``MaskDecoder`` (its transformer, tokens, upscaling
and hypernetwork MLPs are used as they are) and adds HQ-SAM's modules under HQ-SAM's names
(``hf_token``, ``hf_mlp``, ``compress_vit_feat``, ``embedding_encoder``,
``embedding_maskfeature``), so that official HQ-SAM checkpoints load without renaming.

Unlike the reference decoders, which repeat one image's embedding for every prompt, this one
takes a ``window_index`` per prompt: prompts from many windows are decoded in one batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from segment_anything.modeling.common import LayerNorm2d
from segment_anything.modeling.mask_decoder import MLP, MaskDecoder
from torch import nn


class DecoderOutput(NamedTuple):
    """Per-prompt decoder results, all at the decoder's resolution (4x the embedding grid).

    ``masks`` is what ROS-SAM uses: the HQ logits alone when ``hq_token_only``, else SAM's plus
    HQ's (HQ-SAM's convention); for a decoder without HQ modules it is SAM's logits. A named
    tuple, so that DistributedDataParallel finds its tensors.
    """

    masks: torch.Tensor  # [N, 1, h, w]
    sam_logits: torch.Tensor  # [N, 1, h, w]
    hq_logits: torch.Tensor | None  # [N, 1, h, w], None without HQ modules
    iou: torch.Tensor  # [N, 1]


class RosSamMaskDecoder(MaskDecoder):
    def __init__(self, *, transformer_dim: int, transformer: nn.Module, vit_dim: int, hq: bool = True, **kwargs):
        super().__init__(transformer_dim=transformer_dim, transformer=transformer, **kwargs)
        self.hq = hq
        if not hq:
            return
        d = transformer_dim
        self.hf_token = nn.Embedding(1, d)
        self.hf_mlp = MLP(d, d, d // 8, 3)
        self.compress_vit_feat = nn.Sequential(
            nn.ConvTranspose2d(vit_dim, d, kernel_size=2, stride=2),
            LayerNorm2d(d),
            nn.GELU(),
            nn.ConvTranspose2d(d, d // 8, kernel_size=2, stride=2),
        )
        self.embedding_encoder = nn.Sequential(
            nn.ConvTranspose2d(d, d // 4, kernel_size=2, stride=2),
            LayerNorm2d(d // 4),
            nn.GELU(),
            nn.ConvTranspose2d(d // 4, d // 8, kernel_size=2, stride=2),
        )
        self.embedding_maskfeature = nn.Sequential(
            nn.Conv2d(d // 8, d // 4, 3, 1, 1),
            LayerNorm2d(d // 4),
            nn.GELU(),
            nn.Conv2d(d // 4, d // 8, 3, 1, 1),
        )

    def decode(
        self,
        image_embeddings: torch.Tensor,
        early_features: torch.Tensor | None,
        window_index: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool = False,
        hq_token_only: bool = False,
    ) -> DecoderOutput:
        """Decode N prompts over W windows.

        image_embeddings: [W, C, h, w]; early_features: [W, h, w, vit_dim] (the first
        global-attention block's output, channels last as the encoder produces it);
        window_index: [N] long, the window of each prompt; sparse/dense prompt embeddings: [N, ...].
        """
        n = sparse_prompt_embeddings.shape[0]
        tokens = [self.iou_token.weight, self.mask_tokens.weight]
        if self.hq:
            tokens.append(self.hf_token.weight)
        output_tokens = torch.cat(tokens, dim=0).unsqueeze(0).expand(n, -1, -1)
        tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)

        # index_select, not indexing: its gradient (index_add) sums repeated windows in a fixed
        # order, so training is reproducible; indexing's (index_put) is not on a CPU
        src = image_embeddings.index_select(0, window_index) + dense_prompt_embeddings
        pos_src = image_pe.expand(n, -1, -1, -1)
        b, c, h, w = src.shape
        hs, src = self.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens + int(self.hq), :]

        upscaled = self.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )
        b, c, uh, uw = upscaled.shape
        masks = (hyper_in @ upscaled.reshape(b, c, uh * uw)).reshape(b, -1, uh, uw)
        iou_pred = self.iou_prediction_head(iou_token_out)

        if multimask_output:
            iou_pred, best = iou_pred[:, 1:].max(dim=1, keepdim=True)
            sam_logits = masks[:, 1:][torch.arange(b, device=masks.device), best[:, 0]].unsqueeze(1)
        else:
            iou_pred = iou_pred[:, :1]
            sam_logits = masks[:, :1]

        if not self.hq:
            return DecoderOutput(masks=sam_logits, sam_logits=sam_logits, hq_logits=None, iou=iou_pred)

        if early_features is None:
            raise ValueError("an HQ decoder needs the encoder's early features")
        hq_features = self.embedding_encoder(image_embeddings) + self.compress_vit_feat(
            early_features.permute(0, 3, 1, 2)
        )
        upscaled_hq = self.embedding_maskfeature(upscaled) + hq_features.index_select(0, window_index)
        hq_logits = (self.hf_mlp(mask_tokens_out[:, -1, :]).unsqueeze(1) @ upscaled_hq.reshape(b, c, uh * uw))
        hq_logits = hq_logits.reshape(b, 1, uh, uw)
        combined = hq_logits if hq_token_only else sam_logits + hq_logits
        return DecoderOutput(masks=combined, sam_logits=sam_logits, hq_logits=hq_logits, iou=iou_pred)

    def hq_parameters(self):
        """The modules HQ-SAM adds to SAM's decoder."""
        if not self.hq:
            return []
        mods = [self.hf_token, self.hf_mlp, self.compress_vit_feat, self.embedding_encoder, self.embedding_maskfeature]
        return [p for m in mods for p in m.parameters()]

"""Parity with the reference packages: segment_anything (plain SAM) and segment_anything_hq."""

import pytest
import torch

from rossam import build_rossam
from rossam.checkpoint import strict_load

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(1)
    image = torch.randint(0, 256, (3, 1024, 1024), generator=g).float()
    boxes = torch.tensor([[100.0, 120.0, 400.0, 380.0], [600.0, 50.0, 700.0, 300.0], [10.0, 900.0, 90.0, 1000.0]])
    return image, boxes


def test_hq_logits_match_segment_anything_hq(inputs):
    import segment_anything_hq

    torch.manual_seed(3)
    ref = segment_anything_hq.sam_model_registry["vit_b"]().eval()
    with torch.no_grad():  # random HQ modules: give them non-trivial values
        for p in ref.mask_decoder.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    ours = build_rossam("vit_b", None, hq=True).eval()
    strict_load(ours, ref.state_dict(), "segment_anything_hq vit_b")
    image, boxes = inputs
    with torch.no_grad():
        ref_emb, interm = ref.image_encoder(ref.preprocess(image)[None])
        emb, early = ours.encode(ours.preprocess(image[None]))
        assert torch.allclose(interm[0], early, atol=1e-5)  # the hooked early feature is HQ-SAM's
        sparse, dense = ref.prompt_encoder(points=None, boxes=boxes, masks=None)
        for hq_only in (False, True):
            r_masks, r_iou = ref.mask_decoder(
                image_embeddings=ref_emb, image_pe=ref.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=False,
                hq_token_only=hq_only, interm_embeddings=interm[0].unsqueeze(0),
            )
            o = ours.decode(emb, early, torch.zeros(3, dtype=torch.long), boxes, hq_token_only=hq_only)
            diff = (r_masks - o.masks).abs().max().item()
            assert diff <= 1e-4, (hq_only, diff)
            assert torch.allclose(r_iou, o.iou, atol=1e-5)


def test_sam_logits_match_segment_anything(inputs):
    import segment_anything

    torch.manual_seed(4)
    ref = segment_anything.sam_model_registry["vit_b"]().eval()
    ours = build_rossam("vit_b", None, hq=False).eval()
    strict_load(ours, ref.state_dict(), "segment_anything vit_b")
    image, boxes = inputs
    with torch.no_grad():
        r = ref([{"image": image, "boxes": boxes, "original_size": (1024, 1024)}], multimask_output=False)[0]
        o = ours(image[None], torch.zeros(3, dtype=torch.long), boxes)
    assert o.hq_logits is None
    assert (r["low_res_logits"] - o.masks).abs().max().item() <= 1e-4
    assert torch.allclose(r["iou_predictions"], o.iou, atol=1e-5)

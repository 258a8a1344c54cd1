"""Every checkpoint format loads from a file written in its official layout; corruption is named."""

from functools import partial

import pytest
import torch
from safetensors.torch import save_file

from rossam import CheckpointError, build_rossam, save_rossam
from rossam.lora import lora_modules
from rossam.variants import get_variant

V = get_variant("tiny")


def _reference_sam(hq: bool):
    """A tiny-shaped SAM (or HQ-SAM) built with the reference packages' own classes."""
    if hq:
        from segment_anything_hq.modeling import ImageEncoderViT, MaskDecoderHQ as Decoder, PromptEncoder, Sam, TwoWayTransformer
    else:
        from segment_anything.modeling import ImageEncoderViT, MaskDecoder as Decoder, PromptEncoder, Sam, TwoWayTransformer
    s = V.img_size // V.patch_size
    extra = {"vit_dim": V.embed_dim} if hq else {}
    torch.manual_seed(5)
    return Sam(
        image_encoder=ImageEncoderViT(depth=V.depth, embed_dim=V.embed_dim, img_size=V.img_size, mlp_ratio=4,
                                      norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=V.num_heads,
                                      patch_size=V.patch_size, qkv_bias=True, use_rel_pos=True,
                                      global_attn_indexes=V.global_attn_indexes, window_size=V.window_size,
                                      out_chans=V.prompt_dim),
        prompt_encoder=PromptEncoder(embed_dim=V.prompt_dim, image_embedding_size=(s, s),
                                     input_image_size=(V.img_size, V.img_size), mask_in_chans=16),
        mask_decoder=Decoder(num_multimask_outputs=3,
                             transformer=TwoWayTransformer(depth=2, embedding_dim=V.prompt_dim,
                                                           mlp_dim=V.decoder_mlp_dim, num_heads=V.decoder_heads),
                             transformer_dim=V.prompt_dim, iou_head_depth=3, iou_head_hidden_dim=256, **extra),
    )


def test_sam_pth(tmp_path):
    ref = _reference_sam(hq=False)
    torch.save(ref.state_dict(), tmp_path / "sam_vit_tiny.pth")
    model = build_rossam("tiny", tmp_path / "sam_vit_tiny.pth")
    assert not model.hq
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_hq_sam_pth(tmp_path):
    ref = _reference_sam(hq=True)
    torch.save(ref.state_dict(), tmp_path / "sam_hq_vit_tiny.pth")
    model = build_rossam("tiny", tmp_path / "sam_hq_vit_tiny.pth")
    assert model.hq
    assert torch.equal(model.mask_decoder.hf_token.weight, ref.mask_decoder.hf_token.weight)


def test_maskdecoder_pth_initialises_the_decoder(tmp_path):
    ref = _reference_sam(hq=False)
    torch.save(ref.mask_decoder.state_dict(), tmp_path / "sam_vit_tiny_maskdecoder.pth")
    model = build_rossam("tiny", None, maskdecoder=tmp_path / "sam_vit_tiny_maskdecoder.pth")
    assert torch.equal(model.mask_decoder.iou_token.weight, ref.mask_decoder.iou_token.weight)
    with pytest.raises(CheckpointError, match="maskdecoder="):
        build_rossam("tiny", tmp_path / "sam_vit_tiny_maskdecoder.pth")


def test_rossam_training_state_folder(tmp_path):
    """model.safetensors: the HQ decoder; model_1.safetensors: SAM with the reference's LoRA names."""
    hq = _reference_sam(hq=True)
    sam = _reference_sam(hq=False)
    rank = 4
    state1, lora = {}, {}
    for k, v in sam.state_dict().items():
        if ".attn.qkv." in k:
            k = k.replace(".attn.qkv.", ".attn.qkv.qkv.")
        state1[k] = v.contiguous()
    for i in range(V.depth):
        for name, shape in (("linear_a_q", (rank, V.embed_dim)), ("linear_b_q", (V.embed_dim, rank)),
                            ("linear_a_v", (rank, V.embed_dim)), ("linear_b_v", (V.embed_dim, rank))):
            t = torch.randn(shape)
            state1[f"image_encoder.blocks.{i}.attn.qkv.{name}.weight"] = t
            lora[(i, name)] = t
    folder = tmp_path / "epoch_23"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in hq.mask_decoder.state_dict().items()}, str(folder / "model.safetensors"))
    save_file(state1, str(folder / "model_1.safetensors"))

    model = build_rossam("tiny", folder)
    mods = lora_modules(model)
    assert len(mods) == V.depth and mods[0].lora_q.A.out_features == rank
    assert torch.equal(mods[2].lora_v.B.weight, lora[(2, "linear_b_v")])
    assert torch.equal(mods[1].lora_q.A.weight, lora[(1, "linear_a_q")])
    assert torch.equal(model.image_encoder.blocks[0].attn.qkv.weight,
                       sam.image_encoder.blocks[0].attn.qkv.weight)
    assert torch.equal(model.mask_decoder.hf_mlp.layers[0].weight, hq.mask_decoder.hf_mlp.layers[0].weight)


def test_project_safetensors_round_trip(tmp_path, tiny_random):
    save_rossam(tiny_random, tmp_path / "m.safetensors")
    loaded = build_rossam("tiny", tmp_path / "m.safetensors")
    for k, v in tiny_random.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    save_rossam(tiny_random, tmp_path / "h.safetensors", half=True)
    half = build_rossam("tiny", tmp_path / "h.safetensors")
    w = half.image_encoder.patch_embed.proj.weight
    assert w.dtype == torch.float32
    assert torch.allclose(w, tiny_random.image_encoder.patch_embed.proj.weight, atol=1e-3)
    with pytest.raises(CheckpointError, match="variant 'tiny'"):
        build_rossam("vit_b", tmp_path / "m.safetensors")


def test_unknown_variant_lists_known():
    with pytest.raises(ValueError, match="known variants: tiny, vit_b, vit_h, vit_l"):
        build_rossam("vit_x", None)


@pytest.mark.parametrize("case", ["missing", "unexpected", "shape"])
def test_strictness_names_the_key(tmp_path, case):
    state = _reference_sam(hq=True).state_dict()
    if case == "missing":
        del state["mask_decoder.hf_mlp.layers.0.bias"]
        match = "missing keys: mask_decoder.hf_mlp.layers.0.bias"
    elif case == "unexpected":
        state["mask_decoder.extra_token.weight"] = torch.zeros(1)
        match = "unexpected keys: mask_decoder.extra_token.weight"
    else:
        state["image_encoder.pos_embed"] = torch.zeros(1, 8, 8, V.embed_dim)
        match = r"shape mismatch for image_encoder.pos_embed: checkpoint \(1, 8, 8, 192\), model \(1, 16, 16, 192\)"
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=match) as err:
        build_rossam("tiny", tmp_path / "bad.pth")
    assert "bad.pth" in str(err.value)


def test_many_missing_keys_are_counted(tmp_path):
    state = {k: v for k, v in _reference_sam(hq=False).state_dict().items() if not k.startswith("mask_decoder.")}
    state["image_encoder.dummy"] = torch.zeros(1)
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"missing keys: .* in all\)"):
        build_rossam("tiny", tmp_path / "partial.pth")


def test_truncated_and_foreign_files(tmp_path, tiny_random):
    ref = _reference_sam(hq=False)
    torch.save(ref.state_dict(), tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "trunc.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="trunc.pth: not a readable PyTorch checkpoint"):
        build_rossam("tiny", tmp_path / "trunc.pth")
    save_rossam(tiny_random, tmp_path / "m.safetensors")
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="trunc.safetensors"):
        build_rossam("tiny", tmp_path / "trunc.safetensors")
    (tmp_path / "notes.pth").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.pth"):
        build_rossam("tiny", tmp_path / "notes.pth")
    with pytest.raises(CheckpointError, match="nothing.pth: no such checkpoint"):
        build_rossam("tiny", tmp_path / "nothing.pth")
    (tmp_path / "state").mkdir()
    with pytest.raises(CheckpointError, match="model.safetensors and model_1.safetensors"):
        build_rossam("tiny", tmp_path / "state")


class _Trainer:  # a whole object saved with torch.save, as training scripts often do
    def __init__(self):
        self.weights = torch.zeros(2)


def test_a_checkpoint_of_the_wrong_kind_is_named_in_one_line_and_never_unpickled(tmp_path, capsys):
    torch.save({"trainer": _Trainer(), "epoch": 3}, tmp_path / "whole.pth")
    with pytest.raises(CheckpointError) as e:
        build_rossam("tiny", tmp_path / "whole.pth")
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'whole.pth'}: holds Python objects") and "_Trainer" in msg
    assert "\n" not in msg and "weights_only" not in msg and "trusted" not in msg
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "state.pth")
    with pytest.raises(CheckpointError, match=r"state.pth: expected a flat state dict of tensors, found a dict with keys epoch, optimizer"):
        build_rossam("tiny", tmp_path / "state.pth")


def test_an_official_variant_without_weights_is_refused(tmp_path, capsys):
    """Random vit_b weights would run and exit 0 with meaningless masks: each entry point
    refuses in one line naming --checkpoint, and --random-init allows it on purpose."""
    import cv2
    import numpy as np

    from pipeline import run as run_cli
    from rossam import predict
    from rossam.train import TrainConfig
    from rossam.train import main as train_main

    with pytest.raises(ValueError, match="vit_b has no embedded weights: give --checkpoint"):
        build_rossam("vit_b")
    (tmp_path / "clip").mkdir()
    for n in (1, 2):
        cv2.imwrite(str(tmp_path / "clip" / f"{n:06d}.png"), np.zeros((32, 32, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((32, 32, 3), np.uint8))
    assert run_cli.main([str(tmp_path / "clip"), "--variant", "vit_b", "--out", str(tmp_path / "o")]) == 1
    assert predict.main([str(tmp_path / "a.png"), "--box", "1,1,9,9", "--variant", "vit_l", "--out", str(tmp_path / "p")]) == 2
    assert train_main(["--variant", "vit_h", "--output-dir", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all("--checkpoint" in line for line in err), err
    assert not (tmp_path / "t").exists()
    TrainConfig(variant="vit_h", random_init=True).check_weights()  # asked for: allowed
    assert predict.main([str(tmp_path / "a.png"), "--box", "1,1,9,9", "--random-init", "--out", str(tmp_path / "q")]) == 0

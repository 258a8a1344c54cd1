import pytest
import torch

from rossam import LoRAConfig, build_rossam, merge_lora, unmerge_lora
from rossam.lora import LoRAQKV, lora_modules, load_lora, save_lora
from rossam.trainable import parameter_report, set_trainable


def _inputs():
    g = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (2, 3, 256, 256), generator=g).float()
    boxes = torch.tensor([[40.0, 40.0, 120.0, 100.0], [10.0, 150.0, 90.0, 240.0], [100.0, 100.0, 200.0, 200.0]])
    return images, torch.tensor([0, 1, 1]), boxes


def _perturb_b(model, scale=0.05):
    with torch.no_grad():
        for m in lora_modules(model):
            m.lora_q.B.weight.normal_(0, scale)
            m.lora_v.B.weight.normal_(0, scale)


def test_fresh_adapter_changes_nothing(tiny_random):
    images, idx, boxes = _inputs()
    base = tiny_random(images, idx, boxes).masks
    torch.manual_seed(0)
    adapted = build_rossam("tiny", None, lora=LoRAConfig(rank=8)).eval()
    adapted.load_state_dict(tiny_random.state_dict(), strict=False)
    assert len(lora_modules(adapted)) == 4
    assert torch.equal(adapted(images, idx, boxes).masks, base)
    _perturb_b(adapted)
    assert not torch.allclose(adapted(images, idx, boxes).masks, base)


def test_adapter_touches_only_q_and_v():
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 18)
    x = torch.randn(4, 6)
    base = lin(x)
    lq = LoRAQKV(lin, rank=2)
    with torch.no_grad():
        lq.lora_q.B.weight.normal_()
        lq.lora_v.B.weight.normal_()
    out = lq(x)
    assert torch.equal(out[:, 6:12], base[:, 6:12])  # k is untouched
    assert not torch.allclose(out[:, :6], base[:, :6])
    assert not torch.allclose(out[:, 12:], base[:, 12:])


def test_merge_equals_unmerged_and_unmerge_is_exact():
    torch.manual_seed(0)
    model = build_rossam("tiny", None, lora=LoRAConfig(rank=8, blocks=(0, 3))).eval()
    _perturb_b(model)
    images, idx, boxes = _inputs()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    unmerged = model(images, idx, boxes).masks
    merge_lora(model)
    merged = model(images, idx, boxes).masks
    assert (merged - unmerged).abs().max() < 1e-4
    unmerge_lora(model)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    a = build_rossam("tiny", None, lora=LoRAConfig(rank=4))
    _perturb_b(a)
    save_lora(a, tmp_path / "adapter.safetensors")
    torch.manual_seed(1)
    b = build_rossam("tiny", None, lora=LoRAConfig(rank=4))
    load_lora(b, tmp_path / "adapter.safetensors")
    for m, n in zip(lora_modules(a), lora_modules(b)):
        assert torch.equal(m.lora_q.B.weight, n.lora_q.B.weight)
        assert torch.equal(m.lora_v.A.weight, n.lora_v.A.weight)
    c = build_rossam("tiny", None, lora=LoRAConfig(rank=2))
    with pytest.raises(ValueError, match="shape mismatch"):
        load_lora(c, tmp_path / "adapter.safetensors")


def test_config_validates():
    with pytest.raises(ValueError, match="rank"):
        LoRAConfig(rank=0)
    with pytest.raises(ValueError, match="block 9"):
        build_rossam("tiny", None, lora=LoRAConfig(rank=2, blocks=(9,)))


def test_trainable_set_is_rossams():
    model = build_rossam("tiny", None, lora=LoRAConfig(rank=4))
    groups = set_trainable(model)
    report = parameter_report(model)
    assert report["other"]["trainable"] == 0 and report["other"]["frozen"] > 0
    for g in ("lora", "last_block", "sam_decoder", "hq"):
        assert report[g]["trainable"] > 0 and report[g]["frozen"] == 0, g
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "image_encoder.blocks.3.mlp.lin1.weight" in names
    assert "image_encoder.blocks.2.mlp.lin1.weight" not in names
    assert "image_encoder.blocks.2.attn.qkv.lora_q.A.weight" in names
    assert "image_encoder.blocks.2.attn.qkv.weight" not in names
    assert "prompt_encoder.point_embeddings.0.weight" not in names
    assert sum(p.numel() for p in groups["sam"] + groups["hq"]) == sum(
        report[g]["trainable"] for g in report)

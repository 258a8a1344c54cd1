"""Training: config errors, exact resume, NaN handling, two gloo ranks staying in sync."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rossam.train import TrainConfig, load_config, train

pytestmark = pytest.mark.slow

SMALL = dict(variant="tiny", lora_rank=4, train_all=False, exclude_classes=[], synthetic_train_samples=8,
             synthetic_val_samples=2, batch_size=4, points=256, log_every=1, schedule="cosine", epochs=2)


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="unknown config field 'epoks'"):
        load_config(None, ["--epoks", "3"])
    with pytest.raises(ValueError, match="config field 'epochs'"):
        load_config(None, ["--epochs", "three"])
    with pytest.raises(ValueError, match="TrainConfig.schedule"):
        TrainConfig(schedule="linear")
    (tmp_path / "c.yaml").write_text("variant: tiny\nlearning_rate: 3\n")
    with pytest.raises(ValueError, match="c.yaml: unknown config field 'learning_rate'"):
        load_config(str(tmp_path / "c.yaml"), [])
    cfg = load_config(None, ["--lora-blocks", "0,3", "--resume", "none", "--alternate", "false"])
    assert cfg.lora_blocks == [0, 3] and cfg.resume is None and cfg.alternate is False


def test_resume_is_exact(tmp_path):
    train(TrainConfig(**SMALL, output_dir=str(tmp_path / "straight")))
    train(TrainConfig(**SMALL, output_dir=str(tmp_path / "resumed"), stop_after=1))
    assert (tmp_path / "resumed" / "state-epoch0").is_dir() and not (tmp_path / "resumed" / "state-epoch1").exists()
    train(TrainConfig(**SMALL, output_dir=str(tmp_path / "resumed"), resume="auto"))
    a, b = _weights(tmp_path / "straight" / "last.safetensors"), _weights(tmp_path / "resumed" / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    from rossam import build_rossam

    build_rossam("tiny", tmp_path / "straight" / "best.safetensors")  # the export loads


def test_nan_loss_stops_naming_step_and_keeps_the_last_state(tmp_path, monkeypatch):
    out = tmp_path / "run"
    train(TrainConfig(**SMALL, output_dir=str(out), stop_after=1))
    import rossam.losses

    monkeypatch.setattr(rossam.losses, "mask_loss", lambda *a, **k: (torch.tensor(float("nan")), torch.tensor(0.0)))
    from rossam.train import EpochShuffle

    order = EpochShuffle(SMALL["synthetic_train_samples"], 0)
    order.set_epoch(1)
    first = [f"synthetic-0-1-{i}" for i in list(order)[: SMALL["batch_size"]]]  # the shuffled order reaches the loader
    with pytest.raises(FloatingPointError, match=re.escape(f"epoch 1 step 0 (samples {first})")):
        train(TrainConfig(**SMALL, output_dir=str(out), resume="auto"))
    assert (out / "state-epoch0" / "progress.json").is_file()
    assert not list(out.glob(".state*"))


def test_no_usable_sample_stops_before_training(tmp_path):
    (tmp_path / "split" / "img").mkdir(parents=True)
    with pytest.raises(ValueError, match="has no usable sample"):
        train(TrainConfig(**{**SMALL, "train_data": str(tmp_path / "split")}, output_dir=str(tmp_path / "o")))


def _learning_rates(out: Path) -> list[float]:
    return [json.loads(line)["lr_hq"] for line in (out / "history.jsonl").read_text().splitlines()]


def test_the_learning_rate_steps_once_per_optimiser_step(tmp_path):
    # StepLR every epoch (step_size 1): after epoch e the HQ group's rate is lr x gamma^(e+1)
    cfg = TrainConfig(**{**SMALL, "schedule": "step", "step_size": 1}, output_dir=str(tmp_path))
    train(cfg)
    assert _learning_rates(tmp_path) == pytest.approx([cfg.lr_hq * cfg.gamma, cfg.lr_hq * cfg.gamma**2], rel=1e-9)


def test_two_gloo_ranks_hold_equal_parameters_and_step_the_schedule_once(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "rossam.train",
           "--variant", "tiny", "--lora-rank", "4", "--exclude-classes", "", "--synthetic-train-samples", "16",
           "--synthetic-val-samples", "2", "--batch-size", "4", "--points", "256", "--epochs", "2",
           "--schedule", "step", "--step-size", "1", "--output-dir", str(tmp_path), "--dump-parameters", "true"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    a = (tmp_path / "parameters-rank0.txt").read_text()
    b = (tmp_path / "parameters-rank1.txt").read_text()
    assert a == b and len(a.splitlines()) > 100
    lr = TrainConfig.lr_hq
    assert _learning_rates(tmp_path) == pytest.approx([lr * 0.1, lr * 0.01], rel=1e-9)  # not twice per step


def test_samples_come_in_a_new_order_each_epoch_the_same_on_a_resume():
    from rossam.train import EpochShuffle

    s = EpochShuffle(50, seed=3)
    orders = []
    for epoch in (0, 1, 0):
        s.set_epoch(epoch)
        orders.append(list(s))
    assert sorted(orders[0]) == list(range(50)) and orders[0] != list(range(50))
    assert orders[0] != orders[1] and orders[0] == orders[2]


def test_every_shipped_config_loads():
    """The configs the README's reproduction commands name parse into a valid TrainConfig."""
    root = Path(__file__).resolve().parents[1] / "configs"
    names = sorted(p.name for p in root.glob("*.yaml"))
    assert {"tiny-scratch.yaml", "tiny-anneal.yaml"} <= set(names)
    for name in names:
        cfg = load_config(str(root / name), [])
        assert cfg.variant == "tiny" and cfg.epochs >= 1
    anneal = load_config(str(root / "tiny-anneal.yaml"), [])
    assert anneal.checkpoint == "runs/tiny-scratch/best.safetensors"  # step 2 starts from step 1


def test_box_noise_is_drawn_on_the_cpu_and_lands_on_the_boxes_device():
    """On a GPU the batch's boxes live there while the noise generator is a CPU one (so that a
    run's noise does not depend on the device); the meta device stands in for the GPU here."""
    from rossam.train import expand_boxes, jitter_boxes

    boxes = torch.tensor([[1.0, 2.0, 30.0, 40.0], [50.0, 60.0, 70.0, 90.0]])
    for fn, arg in ((jitter_boxes, 0.1), (expand_boxes, 0.25)):
        on_cpu = fn(boxes, arg, 256, torch.Generator().manual_seed(0))
        assert fn(boxes.to("meta"), arg, 256, torch.Generator().manual_seed(0)).device.type == "meta"
        assert torch.equal(on_cpu, fn(boxes, arg, 256, torch.Generator().manual_seed(0)))  # and seeded


# -- the two recipes -------------------------------------------------------------------------
def test_each_recipe_sets_its_defaults_and_a_given_value_wins():
    ref = TrainConfig(variant="vit_l", checkpoint="sam_vit_l.pth")
    assert ref.recipe == "reference"
    assert (ref.hq_token_only, ref.sample, ref.batch_size, ref.box_noise, ref.epochs, ref.grad_clip,
            ref.iou_loss_weight, ref.pos_weight) == (True, "image", 1, 0.0, 48, 0.0, 0.0, 1.0)
    proj = TrainConfig(variant="tiny")
    assert proj.recipe == "project"
    assert (proj.hq_token_only, proj.sample, proj.batch_size, proj.box_noise, proj.grad_clip) == (False, "window", 4, 0.1, 1.0)
    mixed = TrainConfig(variant="vit_b", recipe="reference", box_noise=0.1, checkpoint="x.pth")
    assert mixed.box_noise == 0.1 and mixed.sample == "image"
    with pytest.raises(ValueError, match="TrainConfig.recipe"):
        TrainConfig(recipe="paper")


def _one_step_gradients(recipe: str) -> dict[str, bool]:
    """Which parameter groups hold a non-zero gradient after one training step's backward."""
    from rossam import build_rossam
    from rossam.lora import LoRAConfig
    from rossam.losses import mask_loss
    from rossam.trainable import parameter_groups, set_trainable

    torch.manual_seed(0)
    model = build_rossam("tiny", None, lora=LoRAConfig(rank=4))
    for m in model.modules():  # LoRA's B starts at zero: give it a value so A gets a gradient too
        if hasattr(m, "lora_q"):
            for p in m.parameters():
                torch.nn.init.normal_(p, std=0.02) if p.requires_grad else None
    set_trainable(model, recipe=recipe)
    images = torch.randint(0, 255, (1, 3, 256, 256)).float()
    boxes = torch.tensor([[40.0, 50, 120, 110], [150, 140, 210, 230]])
    targets = torch.zeros(2, 1, 256, 256)
    targets[0, :, 60:100, 50:110] = 1
    targets[1, :, 150:220, 160:200] = 1
    out = model(images, torch.zeros(2, dtype=torch.long), boxes, hq_token_only=True)
    bce, dice = mask_loss(out.hq_logits, targets, 256)
    (bce + dice).backward()
    return {g: any(p.grad is not None and p.grad.abs().sum() > 0 for _, p in params)
            for g, params in parameter_groups(model).items()}


def test_which_parameters_learn_in_each_recipe():
    ref = _one_step_gradients("reference")
    assert ref == {"lora": True, "last_block": True, "prompt_encoder": True, "hq": True, "sam_decoder": False,
                   "other": False}
    proj = _one_step_gradients("project")
    assert proj["sam_decoder"] and not proj["prompt_encoder"] and proj["hq"] and not proj["other"]


def test_the_mask_evaluated_is_the_one_trained():
    """With hq_token_only (the reference recipe) the predictor's mask is the HQ logits alone:
    SAM's own mask head, which the loss never sees, does not change it."""
    from rossam import BoxPredictor, build_rossam

    torch.manual_seed(0)
    model = build_rossam("tiny", None).eval()
    image = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    box = np.array([[60.0, 70, 120, 130]])
    before = {flag: BoxPredictor(model, hq_token_only=flag).predict(image, box).masks[0] for flag in (True, False)}
    with torch.no_grad():
        for p in model.mask_decoder.output_hypernetworks_mlps.parameters():
            p.mul_(-3.0)
    after = {flag: BoxPredictor(model, hq_token_only=flag).predict(image, box).masks[0] for flag in (True, False)}
    assert np.array_equal(before[True], after[True])
    assert not np.array_equal(before[False], after[False])
    assert TrainConfig(variant="vit_h", checkpoint="x.pth").hq_token_only


def test_a_reference_sample_is_a_whole_jittered_image_with_every_object_and_exact_boxes():
    from data.masks import tight_box
    from data.windows import SyntheticImages

    ds = SyntheticImages(6, img_size=256, seed=2)
    counts = []
    for i in range(len(ds)):
        s = ds[i]
        assert s["image"].shape == (3, 256, 256) and len(s["boxes"]) == len(s["masks"]) >= 1
        for m, b in zip(s["masks"].numpy().astype(bool), s["boxes"].numpy()):
            assert np.array_equal(tight_box(m), b)
        counts.append(len(s["boxes"]))
    assert max(counts) > 1  # every object of the image, not one target
    assert ds[0]["name"] == SyntheticImages(6, img_size=256, seed=2)[0]["name"]


def test_a_reference_training_run_leaves_sams_decoder_as_loaded(tmp_path):
    from rossam.build import EMBEDDED_WEIGHTS

    cfg = TrainConfig(variant="tiny", recipe="reference", checkpoint=str(EMBEDDED_WEIGHTS), lora_rank=None,
                      exclude_classes=[], synthetic_train_samples=4, synthetic_val_samples=2, points=256, epochs=1,
                      output_dir=str(tmp_path), alternate=False)
    assert cfg.sample == "image" and cfg.batch_size == 1
    train(cfg)
    start, end = _weights(EMBEDDED_WEIGHTS), _weights(tmp_path / "last.safetensors")
    sam_decoder = [k for k in start if k.startswith("mask_decoder.") and not any(
        h in k for h in ("hf_token", "hf_mlp", "compress_vit_feat", "embedding_encoder", "embedding_maskfeature"))]
    assert sam_decoder and all(torch.equal(start[k], end[k]) for k in sam_decoder)
    prompt = [k for k in start if k.startswith("prompt_encoder.")]
    assert any(not torch.equal(start[k], end[k]) for k in prompt)

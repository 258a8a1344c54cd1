"""Training: config errors, exact resume, NaN handling, two gloo ranks staying in sync."""

import json
import os
import subprocess
import sys
from pathlib import Path

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
    with pytest.raises(FloatingPointError, match=r"epoch 1 step 0 \(samples \['synthetic-"):
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

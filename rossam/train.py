"""Train ROS-SAM with accelerate: ``accelerate launch -m rossam.train --config CONFIG [--key value ...]``.

The defaults are the paper's recipe (see ``TrainConfig``); a YAML or JSON file and
command-line overrides map onto it. State is saved with accelerate's ``save_state`` every
``save_every`` epochs; ``--resume auto`` continues from the newest state exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger("rossam.train")


# What each recipe sets (reference: the authors' train/train.py and rossamdataset.py; project:
# this project's choices, made for a tracker that prompts with predicted boxes; README, "Two
# training recipes").
RECIPES = {
    "reference": dict(hq_token_only=True, sample="image", batch_size=1, box_noise=0.0, epochs=48, pos_weight=1.0,
                      iou_loss_weight=0.0, grad_clip=0.0),
    "project": dict(hq_token_only=False, sample="window", batch_size=4, box_noise=0.1, epochs=24, pos_weight=10.0,
                    iou_loss_weight=1.0, grad_clip=1.0),
}


@dataclass
class TrainConfig:
    # model
    variant: str = "vit_l"
    checkpoint: str | None = None  # SAM / HQ-SAM .pth, ROS-SAM state folder or project safetensors
    random_init: bool = False  # an official variant without a checkpoint starts from random weights only with this
    maskdecoder: str | None = None  # sam_vit_*_maskdecoder.pth to start SAM's decoder from
    lora_rank: int | None = 512  # None: no LoRA
    lora_blocks: list[int] | None = None  # None: every block
    train_all: bool = False  # train every parameter (for a variant trained from scratch)
    # the recipe: "reference" (what the authors' code trains and evaluates; the default for
    # vit_b/l/h) or "project" (this project's choices; the default for tiny). Every field left
    # None below takes the recipe's value (RECIPES); a value given overrides it.
    recipe: str | None = None
    hq_token_only: bool | None = None  # decode with the HQ logits alone at validation and export
    # data
    train_data: str = "synthetic"  # "synthetic" or a ROS-SAM layout split folder
    val_data: str = "synthetic"
    exclude_classes: list[str] = field(default_factory=lambda: ["car"])  # ROS-SAM leaves cars out
    synthetic_train_samples: int = 4000
    synthetic_val_samples: int = 300
    val_seed: int = 10_000
    min_val_size: float = 8.0  # validate on objects whose longer side is at least this (px)
    shuffle: bool = True  # a new order every epoch (resumable: drawn from the seed and the epoch)
    sample: str | None = None  # "image": a whole jittered image, every object; "window": a zoomed window around one
    box_noise: float | None = None
    box_expand: float = 0.0  # half the boxes grow by up to this x their side on each edge (the tracker's search boxes)
    adaptive_zoom: float = 0.0  # this fraction of synthetic windows is cropped as the adaptive-zoom predictor crops
    # optimisation (ROS-SAM: Adam, SAM parts lr 1e-4, HQ modules lr 1e-3 with StepLR(4, 0.1))
    epochs: int | None = None
    batch_size: int | None = None  # images or windows per step
    lr_sam: float = 1e-4
    lr_hq: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "step"  # "step" (StepLR on the HQ group) or "cosine" (both groups)
    step_size: int = 4
    gamma: float = 0.1
    alternate: bool = True  # SAM parts on even iterations, HQ modules on odd; False: both
    points: int = 112 * 112
    oversample: float = 3.0
    importance: float = 0.75
    pos_weight: float | None = None
    iou_loss_weight: float | None = None  # trains the IoU head the tracker gates on
    grad_clip: float | None = None  # 0: no clipping
    # running
    output_dir: str = "runs/rossam"
    save_every: int = 1
    resume: str | None = None  # a state folder, or "auto" for the newest in output_dir
    seed: int = 0
    mixed_precision: str = "no"  # "no", "bf16", "fp16"
    num_workers: int = 0
    log_every: int = 20
    max_minutes: float | None = None  # stop (keeping the last saved state) after this long
    stop_after: int | None = None  # stop after this many epochs in this invocation (resume later)
    dump_parameters: bool = False  # each rank writes a checksum of its parameters at the end

    def __post_init__(self):
        from .variants import get_variant

        get_variant(self.variant)
        if self.recipe is None:
            self.recipe = "project" if self.variant == "tiny" else "reference"
        if self.recipe not in RECIPES:
            raise ValueError(f"TrainConfig.recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        for name, value in RECIPES[self.recipe].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.sample not in ("image", "window"):
            raise ValueError(f"TrainConfig.sample must be 'image' or 'window', got {self.sample!r}")
        if self.schedule not in ("step", "cosine"):
            raise ValueError(f"TrainConfig.schedule must be 'step' or 'cosine', got {self.schedule!r}")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise ValueError(f"TrainConfig.mixed_precision must be no, bf16 or fp16, got {self.mixed_precision!r}")
        for name in ("epochs", "batch_size", "save_every", "points"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        from data.synthetic.shapes import CLASSES

        bad = [c for c in self.exclude_classes if c not in CLASSES]
        if bad:
            raise ValueError(f"TrainConfig.exclude_classes has unknown classes {bad}; known: {list(CLASSES)}")

    def check_weights(self) -> None:
        """An official variant starts from official weights, or from random ones when asked."""
        if self.variant != "tiny" and self.checkpoint is None and not self.random_init:
            raise ValueError(f"{self.variant} needs --checkpoint (an official SAM or HQ-SAM .pth); "
                             "--random-init true trains it from random weights")


def _convert(value: str, typ):
    text = str(typ)
    if value.lower() in ("none", "null") and "None" in text:
        return None
    if "bool" in text:
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"expected a boolean, got {value!r}")
        return value.lower() in ("true", "1", "yes")
    if "list" in text:
        items = [v for v in value.split(",") if v]
        return [int(v) for v in items] if "int" in text else items
    if "int" in text and "float" not in text:
        return int(value)
    if "float" in text:
        return float(value)
    return value


def load_config(path: str | None, overrides: list[str]) -> TrainConfig:
    """A YAML/JSON file plus ``--key value`` overrides; unknown keys name themselves."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    values: dict = {}
    if path:
        text = Path(path).read_text()
        import yaml

        data = yaml.safe_load(text) if not path.endswith(".json") else json.loads(text)
        for k, v in (data or {}).items():
            if k not in fields:
                raise ValueError(f"{path}: unknown config field {k!r}")
            values[k] = v
    it = iter(overrides)
    for tok in it:
        if not tok.startswith("--"):
            raise ValueError(f"expected --key value, got {tok!r}")
        key = tok[2:].replace("-", "_")
        if key not in fields:
            raise ValueError(f"unknown config field {key!r}")
        try:
            raw = next(it)
        except StopIteration:
            raise ValueError(f"--{key} needs a value") from None
        try:
            values[key] = _convert(raw, fields[key].type)
        except ValueError as e:
            raise ValueError(f"config field {key!r}: {e}") from None
    return TrainConfig(**values)


def _build_data(cfg: TrainConfig, variant):
    from data.synthetic.shapes import CLASSES
    from data.windows import SyntheticWindows

    classes = [c for c in CLASSES if c not in cfg.exclude_classes]
    if cfg.sample == "image":
        if cfg.train_data == "synthetic":
            from data.windows import SyntheticImages

            train = SyntheticImages(cfg.synthetic_train_samples, variant.img_size, cfg.seed, classes)
        else:
            from data.rossam_layout import LayoutImages

            train = LayoutImages(cfg.train_data, variant, exclude_classes=cfg.exclude_classes, seed=cfg.seed)
    elif cfg.train_data == "synthetic":
        from functools import partial

        from .windows import window_sizes

        train = SyntheticWindows(cfg.synthetic_train_samples, variant.window, variant.img_size, cfg.seed, classes,
                                 crop_sizes=partial(window_sizes, window=variant.window),
                                 crop_fraction=cfg.adaptive_zoom)
    else:
        from data.rossam_layout import LayoutWindows

        train = LayoutWindows(cfg.train_data, variant, exclude_classes=cfg.exclude_classes, seed=cfg.seed)
    if len(train) == 0:
        raise ValueError(f"training data {cfg.train_data!r} has no usable sample")
    return train, classes


class EpochShuffle(torch.utils.data.Sampler):
    """The samples in an order drawn anew every epoch from (seed, epoch): the same on every
    rank (accelerate shards its batches among them) and the same again in a resumed run."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


def expand_boxes(boxes: torch.Tensor, expand: float, size: int, gen: torch.Generator) -> torch.Tensor:
    """Half the boxes (at random) grown on each edge by U(0, expand) x their side, clamped to the
    window: the tracker prompts with search boxes wider than the object."""
    if expand <= 0 or len(boxes) == 0:
        return boxes
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    sign = torch.tensor([-1.0, -1.0, 1.0, 1.0], device=boxes.device)
    grow = torch.rand(boxes.shape, generator=gen).to(boxes.device) * expand * wh * sign
    chosen = torch.rand(len(boxes), 1, generator=gen).to(boxes.device) < 0.5
    return torch.where(chosen, boxes + grow, boxes).clamp(0, size)


def jitter_boxes(boxes: torch.Tensor, scale: float, size: int, gen: torch.Generator) -> torch.Tensor:
    """Box noise as HQ-SAM trains with: each edge moved by N(0, scale x side), kept valid."""
    if scale <= 0:
        return boxes
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    noisy = boxes + torch.randn(boxes.shape, generator=gen).to(boxes.device) * scale * wh
    noisy = noisy.clamp(0, size)
    lo, hi = torch.minimum(noisy[:, :2], noisy[:, 2:]), torch.maximum(noisy[:, :2], noisy[:, 2:])
    hi = torch.maximum(hi, lo + 1)
    return torch.cat([lo, hi], 1)


@torch.no_grad()
def validate(model, cfg: TrainConfig, classes, progress: bool) -> dict:
    """mIoU and mBIoU through the crop-and-zoom predictor on held-out synthetic frames."""
    from data.synthetic.patches import sample_patch
    from tqdm import tqdm

    from .metrics import boundary_iou, mask_iou
    from .predictor import BoxPredictor

    predictor = BoxPredictor(model, share_windows=False, hq_token_only=cfg.hq_token_only)
    ious, bious = [], []
    window = model.variant.window
    for i in tqdm(range(cfg.synthetic_val_samples), desc="validate", disable=not progress, leave=False):
        rng = np.random.default_rng([cfg.val_seed, i])
        p = sample_patch(rng, window * 2, classes)  # the object anywhere in a frame larger than a window
        b = p.boxes[0]
        if max(b[2] - b[0], b[3] - b[1]) < cfg.min_val_size:
            continue
        pred = predictor.predict(p.image, b[None])
        m = pred.full_mask(0)
        ious.append(mask_iou(m, p.masks[0]))
        bious.append(boundary_iou(m, p.masks[0]))
    model.train()
    return {"miou": float(np.mean(ious)) if ious else float("nan"),
            "mbiou": float(np.mean(bious)) if bious else float("nan"), "objects": len(ious)}


def _latest_state(output_dir: Path) -> Path | None:
    states = sorted(output_dir.glob("state-epoch*"), key=lambda p: int(p.name.removeprefix("state-epoch")))
    return states[-1] if states else None


def _save_state(accelerator, output_dir: Path, epoch: int, extra: dict) -> None:
    """Atomic: written to a temporary folder, then renamed; older states are pruned."""
    tmp = output_dir / f".state-epoch{epoch}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)  # before any rank writes its RNG state into it
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "progress.json").write_text(json.dumps({"epoch": epoch, **extra}))
        final = output_dir / f"state-epoch{epoch}"
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in output_dir.glob("state-epoch*"):
            if old != final and int(old.name.removeprefix("state-epoch")) < epoch - 1:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def train(cfg: TrainConfig) -> dict:
    import time

    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, set_seed
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from data.windows import collate_windows

    from .build import build_rossam
    from .checkpoint import save_rossam
    from .lora import LoRAConfig
    from .losses import iou_of, mask_loss
    from .trainable import parameter_report, set_trainable
    from .variants import get_variant

    cfg.check_weights()
    accelerator = Accelerator(
        # without CUDA, cpu=True is what makes accelerate form gloo ranks from WORLD_SIZE
        cpu=not torch.cuda.is_available(),
        mixed_precision=cfg.mixed_precision,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    set_seed(cfg.seed, device_specific=False)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    variant = get_variant(cfg.variant)
    train_set, classes = _build_data(cfg, variant)

    lora = LoRAConfig(cfg.lora_rank, tuple(cfg.lora_blocks) if cfg.lora_blocks else None) if cfg.lora_rank else None
    model = build_rossam(cfg.variant, cfg.checkpoint, hq=True, lora=lora, maskdecoder=cfg.maskdecoder)
    model.hq_token_only = cfg.hq_token_only
    groups = set_trainable(model, train_all=cfg.train_all, recipe=cfg.recipe)
    if accelerator.is_main_process:
        log.info("parameters by group: %s", json.dumps(parameter_report(model)))
    opt_sam = torch.optim.AdamW(groups["sam"], lr=cfg.lr_sam, weight_decay=cfg.weight_decay) if groups["sam"] else None
    opt_hq = torch.optim.AdamW(groups["hq"], lr=cfg.lr_hq, weight_decay=cfg.weight_decay)
    sampler = EpochShuffle(len(train_set), cfg.seed) if cfg.shuffle else None
    loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate_windows,
                        num_workers=cfg.num_workers, drop_last=True)
    parts = [model, opt_hq, loader] + ([opt_sam] if opt_sam else [])
    prepared = accelerator.prepare(*parts)
    model, opt_hq, loader = prepared[:3]
    if opt_sam:
        opt_sam = prepared[3]
    # The schedulers stay outside ``prepare``: accelerate steps a prepared scheduler once per
    # process at every call, while these count this rank's optimiser steps (its share of the
    # batches), so they are stepped once per step on any number of ranks.
    steps_per_epoch = max(1, len(loader))
    if cfg.schedule == "step":
        sched_hq = torch.optim.lr_scheduler.StepLR(opt_hq, step_size=cfg.step_size * steps_per_epoch, gamma=cfg.gamma)
        sched_sam = torch.optim.lr_scheduler.LambdaLR(opt_sam, lambda s: 1.0) if opt_sam else None
    else:
        total = cfg.epochs * steps_per_epoch
        cosine = lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))  # noqa: E731
        sched_hq = torch.optim.lr_scheduler.LambdaLR(opt_hq, cosine)
        sched_sam = torch.optim.lr_scheduler.LambdaLR(opt_sam, cosine) if opt_sam else None
    for sched in (sched_hq, sched_sam):
        if sched is not None:
            accelerator.register_for_checkpointing(sched)

    start_epoch, best = 0, -1.0
    resume = cfg.resume
    if resume == "auto":
        latest = _latest_state(out)
        resume = str(latest) if latest else None
    if resume:
        accelerator.load_state(resume)
        progress = json.loads((Path(resume) / "progress.json").read_text())
        start_epoch, best = progress["epoch"] + 1, progress.get("best", -1.0)
        accelerator.print(f"resumed from {resume} at epoch {start_epoch}")

    raw = accelerator.unwrap_model(model)
    noise_gen = torch.Generator().manual_seed(cfg.seed + 7919 * accelerator.process_index)
    history = []
    t_start = time.monotonic()
    stopped_early = False
    for epoch in range(start_epoch, cfg.epochs):
        if cfg.stop_after is not None and epoch - start_epoch >= cfg.stop_after:
            break
        # through the prepared loader: accelerate's loader sets its dataset's epoch from its own
        # counter when iterated, which restarts at 0 in a resumed run
        loader.set_epoch(epoch)
        noise_gen.manual_seed(cfg.seed * 1_000_003 + epoch * 7919 + accelerator.process_index)
        model.train()
        bar = tqdm(loader, desc=f"epoch {epoch}", disable=not accelerator.is_main_process, leave=False)
        running = []
        for step, batch in enumerate(bar):
            it = epoch * steps_per_epoch + step
            images = batch["images"].float()
            boxes = jitter_boxes(batch["boxes"], cfg.box_noise, variant.img_size, noise_gen)
            boxes = expand_boxes(boxes, cfg.box_expand, variant.img_size, noise_gen)
            targets = batch["masks"].unsqueeze(1).float()
            with accelerator.autocast():
                outp = model(images, batch["window_index"], boxes, hq_token_only=True)
                bce, dice = mask_loss(outp.hq_logits, targets, cfg.points, cfg.oversample, cfg.importance, cfg.pos_weight)
                with torch.no_grad():
                    true_iou = iou_of(outp.hq_logits.detach(), targets)
                iou_loss = torch.nn.functional.mse_loss(outp.iou[:, 0].float(), true_iou)
                loss = bce + dice + cfg.iou_loss_weight * iou_loss
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss is {loss.item()} at epoch {epoch} step {step} (samples {batch['names']}); "
                    f"the last saved state in {out} is intact"
                )
            accelerator.backward(loss)
            if cfg.grad_clip:
                accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            step_sam = opt_sam is not None and (not cfg.alternate or it % 2 == 0)
            step_hq = not cfg.alternate or it % 2 == 1 or opt_sam is None
            if step_sam:
                opt_sam.step()
            if step_hq:
                opt_hq.step()
            for opt in (opt_sam, opt_hq):
                if opt is not None:
                    opt.zero_grad(set_to_none=True)
            sched_hq.step()
            if sched_sam is not None:
                sched_sam.step()
            running.append(loss.item())
            if accelerator.is_main_process and step % cfg.log_every == 0:
                bar.set_postfix(loss=f"{np.mean(running[-cfg.log_every:]):.4f}")
            if cfg.max_minutes and time.monotonic() - t_start > cfg.max_minutes * 60:
                stopped_early = True
                break
        if stopped_early:
            accelerator.print(f"stopped after {cfg.max_minutes} minutes in epoch {epoch}; last full state kept")
            break
        metrics = validate(raw, cfg, classes, accelerator.is_main_process) if accelerator.is_main_process else {}
        lrs = {"lr_hq": opt_hq.param_groups[0]["lr"], **({"lr_sam": opt_sam.param_groups[0]["lr"]} if opt_sam else {})}
        metrics = {"epoch": epoch, "loss": float(np.mean(running)), **lrs, **metrics}
        history.append(metrics)
        if accelerator.is_main_process:
            log.info("epoch %d: %s", epoch, json.dumps(metrics))
            with open(out / "history.jsonl", "a") as f:
                f.write(json.dumps(metrics) + "\n")
            extra = {"variant": cfg.variant, "hq_token_only": cfg.hq_token_only, "val": metrics}
            save_rossam(raw, out / "last.safetensors", extra=extra)
            if metrics.get("miou", -1) > best:
                best = metrics["miou"]
                save_rossam(raw, out / "best.safetensors", extra=extra)
        if (epoch + 1) % cfg.save_every == 0 or epoch == cfg.epochs - 1:
            _save_state(accelerator, out, epoch, {"best": best})
    accelerator.wait_for_everyone()
    if cfg.dump_parameters:
        lines = [f"{n} {p.detach().double().sum().item():.10e}" for n, p in raw.named_parameters()]
        (out / f"parameters-rank{accelerator.process_index}.txt").write_text("\n".join(lines) + "\n")
    accelerator.end_training()
    return {"history": history, "best": best}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rossam.train",
        description="Train ROS-SAM (run under `accelerate launch -m rossam.train` for several processes).",
        epilog="Any TrainConfig field can be overridden as --field value (lists comma-separated).",
    )
    parser.add_argument("--config", help="YAML or JSON file of TrainConfig fields")
    args, rest = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        cfg = load_config(args.config, rest)
        cfg.check_weights()
    except (ValueError, OSError) as e:
        print(f"rossam.train: {e}", file=sys.stderr)
        return 2
    train(cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

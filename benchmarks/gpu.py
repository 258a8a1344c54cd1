"""The GPU check: the pipeline's frames per second with ``vit_l`` in bf16 and in float32, and the
image encoder's throughput against the device's peak.

    python -m benchmarks.gpu [--variant vit_l] [--objects 20] [--frames 20] [--batch 4] [--device cuda]

Official checkpoints cannot be had everywhere: the model has the official shapes and random
weights (speed does not depend on the weights; the masks are meaningless). The clip is a
generated 1024 x 1024 one, every object prompted from the ground truth at its first frame. On a
machine without CUDA it says so and exits 0; ``--device cpu`` runs the same measurements on the
CPU (float32 only), e.g. with ``--variant tiny`` as a smoke test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# dense bf16 and float32 tensor-core peaks (TFLOP/s) from the vendors' data sheets, by name
PEAKS = {"H200": (989.0, 67.0), "H100": (989.0, 67.0), "A100": (312.0, 19.5), "L40S": (362.0, 91.6),
         "L4": (121.0, 30.3), "A10": (125.0, 31.2), "V100": (125.0, 15.7)}


def _peak(name: str) -> tuple[float, float] | None:
    for key, peak in PEAKS.items():
        if key in name:
            return peak
    return None


def encoder_throughput(model, device, precision: str, batch: int, repeats: int = 10) -> dict:
    """Images per second through the image encoder, and its achieved TFLOP/s."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from rossam.predictor import autocast_for

    size = model.variant.img_size
    x = torch.randn(batch, 3, size, size, device=device)
    with torch.inference_mode(), autocast_for(device, precision):
        counter = FlopCounterMode(display=False)
        with counter:
            model.encode(x)
        flops = counter.get_total_flops()
        for _ in range(2):
            model.encode(x)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            model.encode(x)
        _sync(device)
        seconds = (time.perf_counter() - t0) / repeats
    return {"images_per_s": batch / seconds, "tflops": flops / seconds / 1e12}


def pipeline_fps(model, clip: Path, device: str, precision: str) -> float:
    from pipeline.core import Pipeline, PipelineConfig

    cfg = PipelineConfig(variant=model.variant.name, checkpoint=None, device=device, init_gt=str(clip / "gt.txt"),
                         precision=precision)
    pipe = Pipeline(cfg, model=model)
    frames = 0
    t0 = time.perf_counter()
    for _ in pipe.run(clip / "clip.avi"):
        frames += 1
    return frames / (time.perf_counter() - t0)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", default="vit_l")
    p.add_argument("--objects", type=int, default=20)
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--size", type=int, default=1024, help="the clip's side in px")
    p.add_argument("--batch", type=int, default=4, help="images per encoder call in the throughput measurement")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = p.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("benchmarks.gpu: no CUDA device on this machine; nothing measured (--device cpu measures the CPU)")
        return 0
    from data.synthetic.__main__ import write_clip
    from data.synthetic.clip import ClipConfig
    from rossam import build_rossam

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_rossam(args.variant, None).to(device).eval()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    precisions = ["bf16", "float32"] if device.type == "cuda" else ["float32"]
    print(f"{name}: {args.variant} (random weights), {args.objects} objects, "
          f"{args.frames} frames of {args.size} x {args.size}")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip"
        write_clip(clip, ClipConfig(frames=args.frames, objects=args.objects, size=args.size, seed=0), progress=False)
        peak = _peak(name)
        for precision in precisions:
            enc = encoder_throughput(model, device, precision, args.batch)
            fps = pipeline_fps(model, clip, args.device, precision)
            share = ""
            if peak is not None:
                top = peak[0] if precision == "bf16" else peak[1]
                share = f" = {enc['tflops'] / top:.1%} of the {top:g} TFLOP/s peak"
            print(f"{precision:>8}: pipeline {fps:.2f} frames/s; encoder {enc['images_per_s']:.2f} images/s, "
                  f"{enc['tflops']:.1f} TFLOP/s{share}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed ratios measured side by side in one run.

    python -m benchmarks.speed [--only windows,batching,kalman,decode,generator,pipeline,stages,precision] [--quick]

Prints the machine, torch version, threads and the segmenter's precision (``--precision``), then
one table per measurement with both timings and their ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

PRECISION = "auto"  # the segmenter's arithmetic in every section but "precision" (--precision)
SECTIONS = ("windows", "batching", "kalman", "decode", "generator", "pipeline", "stages", "precision")


def _best(fn, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def clustered_boxes(n: int = 32, size: int = 1024, clusters: int = 4, seed: int = 0) -> np.ndarray:
    """``n`` small boxes (cars to small planes) in ``clusters`` groups, as parking lots and roads."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(150, size - 150, (clusters, 2))
    boxes = []
    for i in range(n):
        c = centres[i % clusters] + rng.uniform(-40, 40, 2)
        half = rng.uniform(3, 12, 2)
        boxes.append([c[0] - half[0], c[1] - half[1], c[0] + half[0], c[1] + half[1]])
    return np.array(boxes)


def _pair(image, boxes, first, second, quick: bool) -> tuple[float, float]:
    """Best times of two predictors on the same frame and boxes, measured side by side."""
    first.predict(image, boxes[:2])  # warm-up
    repeat = 1 if quick else 3
    return _best(lambda: first.predict(image, boxes), repeat), _best(lambda: second.predict(image, boxes), repeat)


def bench_windows(quick: bool) -> list[str]:
    """32 clustered objects: one encoder pass per object, unbatched (the reference code's way),
    against shared windows plus batching, both with the paper's fixed window; then the
    adaptive zoom (the default), whose small windows are shared less often."""
    from rossam import BoxPredictor, build_rossam

    model = build_rossam("tiny")
    image = np.random.default_rng(1).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    boxes = clustered_boxes()
    ours = BoxPredictor(model, share_windows=True, adaptive_zoom=False, batch_size=16, precision=PRECISION)
    ref = BoxPredictor(model, share_windows=False, adaptive_zoom=False, batch_size=1, precision=PRECISION)
    t_ref, t_ours = _pair(image, boxes, ref, ours, quick)
    adaptive = BoxPredictor(model, batch_size=16, precision=PRECISION)
    _, t_adapt = _pair(image, boxes, ref, adaptive, True)
    passes = len(ours.predict(image, boxes).windows)
    passes_adapt = len(adaptive.predict(image, boxes).windows)
    return [
        "32 clustered objects, 1024 x 1024, tiny",
        f"  one pass per object, unbatched : {t_ref:8.3f} s  (32 encoder passes)",
        f"  shared windows + batching      : {t_ours:8.3f} s  ({passes} encoder passes)",
        f"  ratio                          : {t_ref / t_ours:8.2f} x",
        f"  adaptive zoom, shared + batched: {t_adapt:8.3f} s  ({passes_adapt} encoder passes), "
        f"{t_ref / t_adapt:.2f} x the reference",
    ]


def bench_batching(quick: bool) -> list[str]:
    from rossam import BoxPredictor, build_rossam

    model = build_rossam("tiny")
    image = np.random.default_rng(2).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    xy = np.random.default_rng(3).uniform(60, 960, (32, 2))
    boxes = np.concatenate([xy - 6, xy + 6], 1)
    one, sixteen = (BoxPredictor(model, share_windows=False, adaptive_zoom=False, batch_size=b, precision=PRECISION)
                    for b in (1, 16))
    t1, t16 = _pair(image, boxes, one, sixteen, quick)
    return [
        "32 scattered objects (32 windows), tiny",
        f"  encoder batch 1                : {t1:8.3f} s",
        f"  encoder batch 16               : {t16:8.3f} s",
        f"  ratio                          : {t1 / t16:8.2f} x",
    ]


def bench_kalman(quick: bool) -> list[str]:
    """Predict + update per frame: the vectorised filter against one filterpy object per track."""
    from filterpy.kalman import KalmanFilter

    from trackers import KalmanBoxFilter
    from trackers.kalman import xyxy_to_cxcywh

    kf = KalmanBoxFilter()
    lines = [f"  {'tracks':>7} {'vectorised':>12} {'filterpy':>12} {'ratio':>8}"]
    sizes = (10, 100, 1000) if quick else (10, 100, 1000, 10000)
    for n in sizes:
        rng = np.random.default_rng(n)
        xy = rng.uniform(0, 1000, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(4, 40, (n, 2))], 1)
        z = xyxy_to_cxcywh(boxes + rng.normal(0, 1, boxes.shape))
        mean, cov = kf.initiate(boxes)

        def vec():
            m, c = kf.predict(mean, cov)
            kf.update(m, c, z)

        t_vec = _best(vec, 5)
        filters = []
        for i in range(n if n <= 1000 else 1000):
            f = KalmanFilter(dim_x=8, dim_z=4)
            f.F, f.H, f.x, f.P = kf.F, kf.H, mean[i][:, None].copy(), cov[i].copy()
            filters.append(f)

        def per_track():
            for i, f in enumerate(filters):
                f.Q = kf.process_noise(f.x.T)[0]
                f.predict()
                f.R = kf.measurement_noise(f.x.T)[0]
                f.update(z[i][:, None])

        t_fp = _best(per_track, 1 if n >= 1000 else 3) * (n / len(filters))
        lines.append(f"  {n:>7} {t_vec * 1e3:>10.2f}ms {t_fp * 1e3:>10.1f}ms {t_fp / t_vec:>7.1f}x")
    return ["Kalman predict + update per frame (filterpy at 10000 extrapolated from 1000)"] + lines


def bench_decode(quick: bool) -> list[str]:
    import cv2

    from data.video import open_video

    frames = 50 if quick else 100
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "clip.avi"
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1024, 1024))
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
        for k in range(frames):
            w.write(np.roll(base, k, axis=1))
        w.release()

        def with_decord():
            for _ in open_video(path, backend="decord"):
                pass

        def with_opencv():
            for _ in open_video(path, backend="opencv"):
                pass

        t_d = _best(with_decord, 2)
        t_o = _best(with_opencv, 2)
    return [
        f"decoding {frames} MJPG frames of 1024 x 1024 to RGB",
        f"  decord (backend='decord')      : {frames / t_d:8.1f} frames/s",
        f"  OpenCV (backend='opencv')      : {frames / t_o:8.1f} frames/s",
        f"  ratio decord / OpenCV          : {t_o / t_d:8.2f} x",
    ]


def bench_generator(quick: bool) -> list[str]:
    from data.synthetic.__main__ import write_clip
    from data.synthetic.clip import ClipConfig

    frames = 20 if quick else 100
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        write_clip(d, ClipConfig(frames=frames, objects=20, size=1024, seed=0), progress=False)
        dt = time.perf_counter() - t
    return [f"synthetic generator, 1024 x 1024, 20 objects, {frames} frames written",
            f"  {frames / dt:8.2f} frames/s ({dt:.1f} s)"]


def bench_pipeline(quick: bool) -> list[str]:
    from data.synthetic.__main__ import write_clip
    from data.synthetic.clip import ClipConfig
    from pipeline.core import Pipeline, PipelineConfig

    frames = 10 if quick else 30
    lines = [f"pipeline end to end, tiny on this CPU, 1024 x 1024, {frames} frames, --init-gt",
             f"  {'objects':>7} {'fps':>8} {'prompts/frame':>14} {'encoder passes/frame':>21}"]
    with tempfile.TemporaryDirectory() as d:
        for k in (5, 20, 80):
            out = Path(d) / f"c{k}"
            write_clip(out, ClipConfig(frames=frames, objects=k, size=1024, seed=k), progress=False)
            pipe = Pipeline(PipelineConfig(init_gt=str(out / "gt.txt"), precision=PRECISION))
            t = time.perf_counter()
            n = sum(1 for _ in pipe.run(out / "clip.avi"))
            dt = time.perf_counter() - t
            s = pipe.stats
            lines.append(f"  {k:>7} {n / dt:>8.2f} {s.prompts / max(n, 1):>14.1f} {s.encoder_passes / max(n, 1):>21.1f}")
    return lines


def bench_stages(quick: bool) -> list[str]:
    """The tracker's own stages (platform shift, template matching, association: "track"; the
    moving-blob detector: "discover") against segmentation, at 160 cars of the jilin preset."""
    from data.synthetic.__main__ import preset_config, write_clip
    from pipeline.core import Pipeline, PipelineConfig

    frames = 8 if quick else 15
    lines = [f"pipeline stages, jilin preset, 1024 x 1024, 160 cars, {frames} frames, tiny on this CPU",
             f"  {'run':<10} {'track s':>8} {'discover s':>11} {'segment s':>10} {'(track + discover) / segment':>29}"]
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "jilin"
        write_clip(out, preset_config("jilin", objects=160, frames=frames, seed=3), progress=False)
        for name, cfg in (("init-gt", PipelineConfig(init_gt=str(out / "gt.txt"), precision=PRECISION)),
                          ("discovery", PipelineConfig(precision=PRECISION))):
            pipe = Pipeline(cfg)
            for _ in pipe.run(out / "clip.avi"):
                pass
            sec = pipe.stats.seconds
            ratio = (sec["track"] + sec["discover"]) / max(sec["segment"], 1e-9)
            lines.append(f"  {name:<10} {sec['track']:>8.2f} {sec['discover']:>11.2f} {sec['segment']:>10.2f} {ratio:>29.3f}")
    return lines


def bench_precision(quick: bool) -> list[str]:
    """The segmenter in float32 against bf16 autocast (``precision="auto"`` takes bf16 where the
    device computes it in hardware): the same 160 cars of the jilin preset, one frame through
    ``BoxPredictor`` (time and how far the masks differ) and the whole pipeline with
    ``--init-gt``."""
    import torch

    from data.synthetic.__main__ import preset_config, write_clip
    from data.video import open_video
    from pipeline.core import Pipeline, PipelineConfig
    from rossam import BoxPredictor, build_rossam
    from rossam.metrics import mask_iou
    from rossam.predictor import native_bf16

    frames = 8 if quick else 15
    model = build_rossam("tiny")
    native = native_bf16(torch.device("cpu"))
    lines = [(f"segmenter precision, tiny on this CPU (bf16 in hardware: {'yes' if native else 'no'}), jilin preset, "
              "1024 x 1024, 160 cars")]
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "jilin"
        write_clip(out, preset_config("jilin", objects=160, frames=frames, seed=3), progress=False)
        gt = np.loadtxt(out / "gt.txt", delimiter=",", ndmin=2)
        first = gt[gt[:, 0] == 1]
        boxes = np.c_[first[:, 2:4], first[:, 2:4] + first[:, 4:6]]
        image = next(iter(open_video(out / "clip.avi"))).image
        f32, bf16 = (BoxPredictor(model, precision=p) for p in ("float32", "bf16"))
        t32, t16 = _pair(image, boxes, f32, bf16, quick)
        a, b = f32.predict(image, boxes), bf16.predict(image, boxes)
        agree = [mask_iou(a.full_mask(i), b.full_mask(i)) for i in range(len(boxes))]
        lines += [f"  one frame, {len(boxes)} boxes, float32 : {t32:8.3f} s",
                  f"  one frame, {len(boxes)} boxes, bf16    : {t16:8.3f} s",
                  f"  ratio                          : {t32 / t16:8.2f} x",
                  (f"  masks, bf16 against float32: mean IoU {np.mean(agree):.3f}, "
                   f"{np.mean(np.array(agree) < 0.9):.1%} under 0.9")]
        fps = {}
        for p in ("float32", "bf16"):
            pipe = Pipeline(PipelineConfig(init_gt=str(out / "gt.txt"), precision=p), model=model)
            t = time.perf_counter()
            n = sum(1 for _ in pipe.run(out / "clip.avi"))
            fps[p] = n / (time.perf_counter() - t)
        lines.append(f"  pipeline, {frames} frames, --init-gt: float32 {fps['float32']:.2f} fps, "
                     f"bf16 {fps['bf16']:.2f} fps, {fps['bf16'] / fps['float32']:.2f} x")
    return lines


def main(argv=None) -> int:
    import torch

    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--quick", action="store_true", help="fewer repeats and frames")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "float32"],
                   help="the segmenter's arithmetic in every section but precision (auto: bf16 where the CPU has it)")
    args = p.parse_args(argv)
    global PRECISION
    PRECISION = args.precision
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    from rossam.predictor import resolve_precision

    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores; "
          f"python {platform.python_version()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"segmenter in {resolve_precision(torch.device('cpu'), PRECISION)}")
    for name in wanted:
        print()
        for line in globals()[f"bench_{name}"](args.quick):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

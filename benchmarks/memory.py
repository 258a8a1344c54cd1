"""Peak memory stays bounded whatever the clip's length, and grows little with the objects.

    python -m benchmarks.memory [--short 100] [--long 2000] [--pipeline-frames 1000] [--objects 5,20,80]

Each measurement runs in a fresh process and reports its peak RSS: streaming a short and a long
1024 x 1024 MJPG clip through ``open_video``; the whole main job (``pipeline.run``'s
``run_clip``: decoding, tiny, tracking, discovery, every output file and the overlay) over the
first tenth and the whole of the long clip; and the main job with ``--init-gt`` on generated
1024 x 1024 clips with 5, 20 and 80 objects.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def write_noise_clip(path: Path, frames: int, size: int = 1024) -> None:
    """A cheap clip: a textured frame drifting a pixel per frame (MJPG, like satellite video)."""
    import cv2

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (size + frames, size, 3), dtype=np.uint8), (0, 0), 1.5)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (size, size))
    for k in range(frames):
        w.write(base[k : k + size])
    w.release()


_DECODE = """
import resource, sys, json
from data.video import open_video
n = 0
for f in open_video(sys.argv[1]):
    n += 1
print(json.dumps({"frames": n, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_PIPELINE = """
import resource, sys, json, tempfile
from pipeline.core import PipelineConfig
from pipeline.run import run_clip
end, init_gt = int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None
with tempfile.TemporaryDirectory() as out:
    s = run_clip(sys.argv[1], out, PipelineConfig(end=end or None, init_gt=init_gt), progress=False)
print(json.dumps({"frames": s["frames"], "objects": s["objects"], "fps": s["fps"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _measure(code: str, *args) -> dict:
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=root)
    if r.returncode:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--short", type=int, default=100)
    p.add_argument("--long", type=int, default=2000)
    p.add_argument("--pipeline-frames", type=int, default=1000, help="0 skips the long pipeline run")
    p.add_argument("--objects", default="5,20,80", help="object counts of the generated clips ('' skips them)")
    p.add_argument("--object-frames", type=int, default=20, help="frames of each generated clip")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        short, long = Path(d) / "short.avi", Path(d) / "long.avi"
        write_noise_clip(short, args.short)
        write_noise_clip(long, args.long)
        a, b = _measure(_DECODE, short), _measure(_DECODE, long)
        print(f"open_video, 1024 x 1024 MJPG: {a['frames']} frames peak {a['peak_rss_mb']:.0f} MB; "
              f"{b['frames']} frames peak {b['peak_rss_mb']:.0f} MB; ratio {b['peak_rss_mb'] / a['peak_rss_mb']:.3f}")
        if args.pipeline_frames:
            n = min(args.pipeline_frames, args.long)
            c, e = _measure(_PIPELINE, long, max(10, n // 10)), _measure(_PIPELINE, long, n)
            print(f"pipeline (tiny, discovery, all outputs): {c['frames']} frames peak {c['peak_rss_mb']:.0f} MB; "
                  f"{e['frames']} frames peak {e['peak_rss_mb']:.0f} MB; ratio {e['peak_rss_mb'] / c['peak_rss_mb']:.3f}",
                  flush=True)
        counts = [int(k) for k in args.objects.split(",") if k.strip()]
        if counts:
            from data.synthetic.__main__ import write_clip
            from data.synthetic.clip import ClipConfig

            print(f"pipeline (tiny, --init-gt, all outputs), 1024 x 1024, {args.object_frames} frames:")
            print(f"  {'objects':>7} {'tracked':>8} {'fps':>7} {'peak RSS MB':>12}")
            for k in counts:
                clip = Path(d) / f"objects{k}"
                write_clip(clip, ClipConfig(frames=args.object_frames, objects=k, size=1024, seed=k), progress=False)
                r = _measure(_PIPELINE, clip / "clip.avi", 0, clip / "gt.txt")
                print(f"  {k:>7} {r['objects']:>8} {r['fps']:>7.2f} {r['peak_rss_mb']:>12.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Peak memory stays bounded whatever the clip's length.

    python -m benchmarks.memory [--short 100] [--long 2000] [--pipeline-frames 300]

Each measurement runs in a fresh process and reports its peak RSS: streaming a short and a long
1024 x 1024 MJPG clip through ``open_video``, and the pipeline over the first part and the whole
of a long clip.
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
import resource, sys, json
from pipeline.core import Pipeline, PipelineConfig
p = Pipeline(PipelineConfig(end=int(sys.argv[2])))
n = sum(1 for _ in p.run(sys.argv[1]))
print(json.dumps({"frames": n, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
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
    p.add_argument("--pipeline-frames", type=int, default=300, help="0 skips the pipeline measurement")
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
            print(f"pipeline (tiny, discovery): {c['frames']} frames peak {c['peak_rss_mb']:.0f} MB; "
                  f"{e['frames']} frames peak {e['peak_rss_mb']:.0f} MB; ratio {e['peak_rss_mb'] / c['peak_rss_mb']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

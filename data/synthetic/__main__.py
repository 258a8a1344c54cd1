"""Write a synthetic satellite clip with ground truth.

    python -m data.synthetic --out DIR [--preset default|jilin] [--frames N] [--objects K] [--seed S]
                             [--size 1024] [--classes ...] [--step K] [--jitter PX] [--turn-radius R]

DIR/clip.avi (MJPG), DIR/gt.txt (SAT-MTB MOT rows ``frame,id,x,y,w,h,1,class,0,-1,-1``, tight
boxes of each object's visible part), DIR/masks/000001.png ... (16-bit, pixel value = id,
0 = background) and, with --rossam-layout, every k-th frame in the ROS-SAM training layout
under DIR/rossam/.

Presets: ``default`` (every class, 100 frames of 1024 x 1024, 20 objects) and ``jilin``, a
Jilin-1 urban clip as satellite MOT data sets deliver it: 150 faint cars whose bodies are 4-6 px,
most of them sharing roads with others (both ways, in lanes about two car widths apart), few
driving beside another for the whole clip, every 5th source frame kept (each car moves about
its own length per frame), 2.5 px of platform jitter, 15 frames. Options given on the command
line override the preset.

Some objects turn during the clip. By default a turn is a rigid pivot at a rate drawn whatever
the object's length; ``--turn-radius R`` keeps a turn's radius at least R x the object's length,
as a vehicle following its way (the same angle, over more frames where the object is long).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .clip import ClipConfig, SyntheticClip, boxes_from_ids, class_of
from .shapes import CLASSES


def write_clip(out: str | Path, cfg: ClipConfig, rossam_layout: bool = False, every: int = 4,
               progress: bool = True) -> Path:
    """Write the clip's files into ``out``; returns ``out``. The video and gt are written to
    temporary names and renamed at the end, so an interrupted run leaves no complete-looking file."""
    from ..rossam_layout import write_sample

    out = Path(out)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    clip = SyntheticClip(cfg)
    classes = class_of(clip)
    tmp_video = out / ".clip.avi.tmp.avi"
    writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*"MJPG"), cfg.fps, (cfg.size, cfg.size))
    if not writer.isOpened():
        raise OSError(f"{tmp_video}: cannot open an MJPG writer")
    rows = []
    for t, image, ids in tqdm(clip, total=cfg.frames, desc="synthetic clip", disable=not progress):
        writer.write(np.ascontiguousarray(image[..., ::-1]))
        cv2.imwrite(str(out / "masks" / f"{t:06d}.png"), ids)
        boxes = boxes_from_ids(ids)
        for oid, b in sorted(boxes.items()):
            rows.append(f"{t},{oid},{b[0]:g},{b[1]:g},{b[2] - b[0]:g},{b[3] - b[1]:g},1,{classes[oid]},0,-1,-1")
        if rossam_layout and (t - 1) % every == 0 and boxes:
            oids = sorted(boxes)
            write_sample(out / "rossam", f"frame{t:06d}", image, np.stack([boxes[o] for o in oids]),
                         np.stack([ids == o for o in oids]), [classes[o] for o in oids])
    writer.release()
    os.replace(tmp_video, out / "clip.avi")
    tmp = out / ".gt.txt.tmp"
    tmp.write_text("".join(r + "\n" for r in rows))
    os.replace(tmp, out / "gt.txt")
    return out


PRESETS = {
    "default": {},
    "jilin": {"classes": ("car",), "objects": 150, "frames": 15, "size": 1024, "step": 5, "car_length": (4.0, 6.5),
              "object_contrast": 0.6, "jitter": 2.5, "shared_roads": 0.7, "close_pairs": 0.05},
}


def preset_config(name: str, **overrides) -> ClipConfig:
    """ClipConfig of a preset, with ``overrides`` (those not None) on top."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return ClipConfig(**{**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m data.synthetic", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--preset", choices=list(PRESETS), default="default", help="a kind of clip (see above)")
    p.add_argument("--frames", type=int, help="default 100 (jilin: 15)")
    p.add_argument("--objects", type=int, help="default 20 (jilin: 150)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, help="frame side in pixels (default 1024)")
    p.add_argument("--classes", nargs="+", choices=CLASSES, help="default: all (jilin: car)")
    p.add_argument("--step", type=int, help="source frames per clip frame: motion per frame x K (default 1; jilin: 5)")
    p.add_argument("--jitter", type=float, help="platform jitter in px (default 1.5; jilin: 2.5)")
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--turn-radius", type=float,
                   help="a turn's radius is at least this x the object's length (default 0: a rigid pivot at any rate)")
    p.add_argument("--rossam-layout", action="store_true", help="also write frames in the ROS-SAM training layout")
    p.add_argument("--every", type=int, default=4, help="with --rossam-layout, keep every k-th frame (default 4)")
    args = p.parse_args(argv)
    try:
        cfg = preset_config(args.preset, frames=args.frames, objects=args.objects, size=args.size, seed=args.seed,
                            classes=tuple(args.classes) if args.classes else None, fps=args.fps, step=args.step,
                            jitter=args.jitter, turn_radius=args.turn_radius)
        out = write_clip(args.out, cfg, rossam_layout=args.rossam_layout, every=args.every)
    except (ValueError, OSError) as e:
        print(f"data.synthetic: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out / 'clip.avi'}, {out / 'gt.txt'}, {out / 'masks'}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

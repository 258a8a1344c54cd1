"""What the ground truth of a clip says about its traffic: how fast objects move, how close
they drive to each other, and how well they stand out from the ground around them.

    python -m benchmarks.traffic DATA_ROOT [DATA_ROOT ...] [--frames 3]

For every sequence under each root (a folder with ``gt.txt`` or ``gt/gt.txt`` and a clip:
``clip.avi``, one video file or ``img/``), one line:

- rows a frame;
- speed: each object's centre displacement between consecutive frames, px (10th, 50th, 90th
  percentiles);
- nearest: each row's distance to the nearest other object's centre in the same frame, px
  (median), and the share of rows within 5 and 8 px of one (two cars side by side or passing);
- contrast: how far each object stands out from a ring of ground 1-3 px outside its box (the
  strongest tenth of the box's pixels against the ring's median grey), in sigmas of the
  frame's pixel noise (a robust sigma of the frame less its Gaussian blur), over the first
  ``--frames`` frames (median and 25th percentile).

It compares a generated preset with a real clip (``--preset jilin`` against the real dev
clip, README); it scores nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from data.mot import Tracks, read_mot
from trackers.matching import centre_distance


def speeds(gt: Tracks) -> np.ndarray:
    """Centre displacement (px) of every object between consecutive frames."""
    centres = (gt.boxes[:, :2] + gt.boxes[:, 2:]) / 2
    out = []
    for i in np.unique(gt.ids):
        rows = np.flatnonzero(gt.ids == i)
        rows = rows[np.argsort(gt.frames[rows])]
        step = np.diff(gt.frames[rows]) == 1
        out.append(np.linalg.norm(np.diff(centres[rows], axis=0), axis=1)[step])
    return np.concatenate(out) if out else np.zeros(0)


def nearest(gt: Tracks) -> np.ndarray:
    """For every row, the distance (px) to the nearest other object's centre in its frame
    (inf where it is alone)."""
    out = np.full(len(gt), np.inf)
    for f in np.unique(gt.frames):
        rows = np.flatnonzero(gt.frames == f)
        d = centre_distance(gt.boxes[rows], gt.boxes[rows])
        np.fill_diagonal(d, np.inf)
        out[rows] = d.min(axis=1)
    return out


def pixel_noise(gray: np.ndarray) -> float:
    """A robust sigma (px grey) of the frame less its Gaussian blur (sigma 1.5)."""
    hp = gray - cv2.GaussianBlur(gray, (0, 0), 1.5)
    return float(1.4826 * np.median(np.abs(hp - np.median(hp))))


def contrasts(gray: np.ndarray, boxes: np.ndarray, ring: int = 3, share: float = 0.1) -> np.ndarray:
    """How far each box's object stands out from the ground 1-``ring`` px outside the box: the
    ``1 - share`` quantile of its pixels' |grey - the ground's median|, in sigmas of the frame's
    pixel noise (the strongest tenth of the box: the object's own pixels whether the box is
    tight or holds a margin, and whether the object is wide or thin). Boxes too near the
    frame's edge for a whole ring are left out."""
    sigma = max(pixel_noise(gray), 1e-6)
    h, w = gray.shape
    out = []
    for x1, y1, x2, y2 in boxes:
        bx1, by1, bx2, by2 = int(np.floor(x1)), int(np.floor(y1)), int(np.ceil(x2)), int(np.ceil(y2))
        X1, Y1, X2, Y2 = bx1 - ring, by1 - ring, bx2 + ring, by2 + ring
        if X1 < 0 or Y1 < 0 or X2 > w or Y2 > h or bx2 <= bx1 or by2 <= by1:
            continue
        around = gray[Y1:Y2, X1:X2]
        inside = np.zeros(around.shape, bool)
        inside[ring - 1 : around.shape[0] - ring + 1, ring - 1 : around.shape[1] - ring + 1] = True  # box + 1 px
        ground = float(np.median(around[~inside]))
        box = gray[by1:by2, bx1:bx2]
        out.append(float(np.quantile(np.abs(box - ground), 1 - share)) / sigma)
    return np.array(out)


def sequence_stats(gt: Tracks, clip: Path | None, frames: int = 3) -> dict:
    sp, nn = speeds(gt), nearest(gt)
    stats = {"rows_per_frame": len(gt) / max(len(np.unique(gt.frames)), 1)}
    if len(sp):
        stats["speed"] = [float(v) for v in np.percentile(sp, [10, 50, 90])]
    finite = nn[np.isfinite(nn)]
    if len(finite):
        stats["nearest_median"] = float(np.median(finite))
        stats["within_5"] = float(np.mean(nn < 5))
        stats["within_8"] = float(np.mean(nn < 8))
    if clip is not None and frames > 0:
        from data.video import open_video

        values = []
        for fr in open_video(clip, on_error="skip"):
            if fr.number > frames:
                break
            if fr.image is None:
                continue
            gray = cv2.cvtColor(fr.image, cv2.COLOR_RGB2GRAY).astype(np.float32)
            values.append(contrasts(gray, gt.frame(fr.number).boxes))
        values = np.concatenate(values) if values else np.zeros(0)
        if len(values):
            stats["contrast"] = [float(np.median(values)), float(np.percentile(values, 25))]
    return stats


def _line(name: str, s: dict) -> str:
    parts = [f"{name:28s} rows/frame {s['rows_per_frame']:6.1f}"]
    if "speed" in s:
        parts.append("speed p10/50/90 {:5.1f} {:5.1f} {:5.1f}".format(*s["speed"]))
    if "nearest_median" in s:
        parts.append(f"nearest {s['nearest_median']:5.1f} px, within 5 / 8 px {s['within_5']:.3f} / {s['within_8']:.3f}")
    if "contrast" in s:
        parts.append("contrast median / p25 {:4.1f} / {:4.1f}".format(*s["contrast"]))
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    from .evaluate import find_clip
    from .score import ground_truth_folders

    p = argparse.ArgumentParser(prog="python -m benchmarks.traffic", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("roots", nargs="+", help="folders of sequences (or sequences)")
    p.add_argument("--frames", type=int, default=3, help="frames whose contrast is measured (0: none)")
    args = p.parse_args(argv)
    found = False
    for root in args.roots:
        root = Path(root)
        if not root.is_dir():
            print(f"{root}: no such folder", file=sys.stderr)
            return 2
        for name, (folder, gt, _) in ground_truth_folders(root).items():
            found = True
            print(_line(name, sequence_stats(read_mot(gt), find_clip(folder), args.frames)))
    if not found:
        print("no sequence with ground truth (gt.txt or gt/gt.txt) found", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

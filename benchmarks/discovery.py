"""Recall and precision of prompt-free discovery on generated clips.

    python -m benchmarks.discovery [--seeds 3 4 5 6 7 8] [--frames 20] [--size 512] [--objects 20]

An object counts once it is at least ``--min-size`` px (longer side); it is found when a
proposal finds it within ``--within`` frames of that (``found_object`` says when a proposal
finds an object). Precision is over all proposals.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def found_object(prop: np.ndarray, ids: np.ndarray, gt: dict) -> int:
    """The object a proposal finds (0 if none): the id with most pixels inside it when they are a
    fifth of its box or more, else the object whose box covers more than 30% of it. The first
    rule alone misses proposals on thin objects, the second alone gives every blob inside a
    diagonal train's box to the train."""
    x0, y0 = np.floor(prop[:2]).astype(int)
    x1, y1 = np.ceil(prop[2:]).astype(int)
    inside = ids[max(y0, 0) : y1, max(x0, 0) : x1]
    count = np.bincount(inside.ravel())
    count[0] = 0
    if inside.size and count.max() >= 0.2 * inside.size:
        return int(count.argmax())
    if not gt:
        return 0
    keys = list(gt)
    g = np.array([gt[k] for k in keys])
    lt, rb = np.maximum(prop[:2], g[:, :2]), np.minimum(prop[2:], g[:, 2:])
    cover = np.prod(np.clip(rb - lt, 0, None), axis=1) / np.prod(prop[2:] - prop[:2])
    return keys[int(cover.argmax())] if cover.max() > 0.3 else 0


def discovery_scores(seeds=(3, 4), frames: int = 20, size: int = 512, objects: int = 20, min_size: float = 6,
                     within: int = 5, config=None) -> dict:
    """{"recall", "precision", "objects", "proposals_per_frame"} over the clips of ``seeds``."""
    from data.synthetic.clip import ClipConfig, SyntheticClip, boxes_from_ids
    from trackers import MotionDiscovery

    hits, tp, fp, n_frames = [], 0, 0, 0
    for seed in seeds:
        disc, first, found = MotionDiscovery(config), {}, {}
        for t, image, ids in SyntheticClip(ClipConfig(frames=frames, objects=objects, size=size, seed=seed)):
            gt = boxes_from_ids(ids)
            for i, b in gt.items():
                if max(b[2] - b[0], b[3] - b[1]) >= min_size:
                    first.setdefault(i, t)
            n_frames += 1
            for p in disc(image):
                obj = found_object(p, ids, gt)
                tp, fp = tp + (obj > 0), fp + (obj == 0)
                if obj:
                    found.setdefault(obj, t)
        # objects that appear too late to be given ``within`` frames are not counted
        hits += [i in found and found[i] - t0 <= within for i, t0 in first.items() if t0 <= frames - within]
    return {"recall": float(np.mean(hits)) if hits else float("nan"),
            "precision": tp / (tp + fp) if tp + fp else float("nan"), "objects": len(hits),
            "proposals_per_frame": (tp + fp) / max(n_frames, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.discovery", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5, 6, 7, 8])
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--objects", type=int, default=20)
    p.add_argument("--min-size", type=float, default=6)
    p.add_argument("--within", type=int, default=5)
    args = p.parse_args(argv)
    print(f"{'seed':>6} {'recall':>7} {'precision':>10} {'objects':>8} {'proposals/frame':>16}")
    t = time.perf_counter()
    for seed in args.seeds:
        r = discovery_scores((seed,), args.frames, args.size, args.objects, args.min_size, args.within)
        print(f"{seed:>6} {r['recall']:>7.3f} {r['precision']:>10.3f} {r['objects']:>8} {r['proposals_per_frame']:>16.1f}")
    r = discovery_scores(tuple(args.seeds), args.frames, args.size, args.objects, args.min_size, args.within)
    print(f"{'all':>6} {r['recall']:>7.3f} {r['precision']:>10.3f} {r['objects']:>8} {r['proposals_per_frame']:>16.1f}"
          f"   ({time.perf_counter() - t:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

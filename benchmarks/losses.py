"""Where a run loses its rows: missed true boxes by class and size, false positives by kind.

    python -m benchmarks.losses --gt GT_ROOT --pred PRED_ROOT [--iou 0.5 | --match centre --distance 5]
                                [--tracks N] [--objects N] [--json OUT]

Each frame's true and reported boxes are paired one to one by the scoring rule (Hungarian on
IoU, or on centre distance), as ``benchmarks.score`` pairs them but frame by frame (without
motmetrics' preference for last frame's pairs, so the counts can differ from its FN and FP by
a few rows where identities switch). Then:

- a missed true box is ``off`` where a reported box overlaps it (the object is followed, but
  the box is further from it than the rule allows) and ``none`` where none does (no track on
  it); counted by class and by its longer side (under 8 px, under 16 px, 16 px and over);
- a false positive (a reported box paired with nothing) is ``part`` where its centre lies in a
  true box at least twice its area (a moving edge, one piece of a large object), ``larger``
  where it lies in a true box of at most half its area (two touching cars in one box, a mask
  grown over the ground), ``off`` where it lies in a true box of a similar area, and
  ``outside`` where it lies in none (the smallest true box holding the centre is the one
  judged). Kinds compare areas: where the annotation holds a margin around the object, an
  object's own box off the annotation's centre counts as a ``part``.

A true box at least half inside another true box is ``covered``: objects drawn over each other
(a car across an airplane, two cars riding into each other on a generated clip). How many of
the true and of the missed rows are covered is counted apart: a tracker cannot be asked to
follow what it cannot see.

``--tracks N`` also lists the N reported tracks with the most false rows: their rows, false
rows, mean size, and the true ids their false boxes overlap most (a track that ran away over
the ground, a box kept a pixel off a small car). ``--objects N`` lists the N true objects with
the most missed rows, each with its life frame by frame: ``#`` found, ``o`` missed with a
reported box overlapping it, ``.`` missed with none (a track lost at frame 12 and never back,
a box that slid off a car and stayed beside it, a car found again after an occlusion).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from data.mot import CLASS_NAMES, Tracks, read_mot
from trackers.matching import intersection_matrix, iou_matrix

from .score import add_roots_args, find_sequences, matching_of
from .tracking import Matching

SIZES = (8.0, 16.0)  # px: the longer side's bands, "<8", "<16", ">=16"
FP_KINDS = ("part", "off", "larger", "outside")


def size_band(longer: float) -> str:
    return f"<{SIZES[0]:g}" if longer < SIZES[0] else f"<{SIZES[1]:g}" if longer < SIZES[1] else f">={SIZES[1]:g}"


def frame_losses(gt: Tracks, pred: Tracks, match: Matching) -> tuple[list[tuple[int, int, str, str]], list[tuple[int, str]]]:
    """One frame's misses, as (row in ``gt``, class, size band, "off" | "none"), and its false
    positives, as (row in ``pred``, kind)."""
    d = match.distance(gt.boxes, pred.boxes) if len(gt) and len(pred) else np.full((len(gt), len(pred)), np.nan)
    paired_gt, paired_pred = set(), set()
    if d.size:
        cost = np.where(np.isnan(d), 1e9, d)
        for i, j in zip(*linear_sum_assignment(cost)):
            if np.isfinite(d[i, j]):
                paired_gt.add(int(i))
                paired_pred.add(int(j))
    overlap = iou_matrix(gt.boxes, pred.boxes) > 0 if len(gt) and len(pred) else np.zeros((len(gt), len(pred)), bool)
    longer = (gt.boxes[:, 2:] - gt.boxes[:, :2]).max(axis=1) if len(gt) else np.zeros(0)
    misses = [(i, int(gt.classes[i]), size_band(float(longer[i])), "off" if overlap[i].any() else "none")
              for i in range(len(gt)) if i not in paired_gt]
    area = lambda b: np.prod(b[..., 2:] - b[..., :2], axis=-1)  # noqa: E731
    kinds = []
    for j in range(len(pred)):
        if j in paired_pred:
            continue
        c = (pred.boxes[j, :2] + pred.boxes[j, 2:]) / 2
        inside = np.flatnonzero(((c >= gt.boxes[:, :2]) & (c <= gt.boxes[:, 2:])).all(axis=1)) if len(gt) else []
        if not len(inside):
            kinds.append((j, "outside"))
            continue
        ratio = area(pred.boxes[j]) / area(gt.boxes[inside]).min()
        kinds.append((j, "part" if ratio <= 0.5 else "larger" if ratio >= 2.0 else "off"))
    return misses, kinds


def covered(boxes: np.ndarray, share: float = 0.5) -> np.ndarray:
    """[N]: at least ``share`` of box i's area lies inside another of ``boxes`` (xyxy)."""
    if len(boxes) < 2:
        return np.zeros(len(boxes), bool)
    inter = intersection_matrix(boxes, boxes)
    np.fill_diagonal(inter, 0)
    area = np.maximum(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1), 1e-9)
    return (inter / area[:, None]).max(axis=1) >= share


def _overlapped(gt: Tracks, box: np.ndarray):
    """The true id that ``box`` overlaps most, or "-" where it overlaps none."""
    if not len(gt):
        return "-"
    iou = iou_matrix(box[None], gt.boxes)[0]
    return int(gt.ids[iou.argmax()]) if iou.max() > 0 else "-"


def losses(gt_root: str | Path, pred_root: str | Path, match: Matching, tracks: int = 0, objects: int = 0) -> dict:
    """Missed and false rows of every sequence found under ``gt_root`` (``benchmarks.score``'s
    layout), totalled: {"true": {class: {band: n}}, "missed": {class: {band: {"off": n, "none":
    n}}}, "false": {kind: n}, "covered": {"true": n, "missed": n} (rows half inside another true
    box), "sequences": [...], "missing": [...]}; with ``tracks`` > 0 also
    "tracks": the ``tracks`` reported tracks with the most false rows, most first, each
    {"sequence", "id", "rows", "false", "size": [w, h], "over": {true id or "-": false rows}};
    with ``objects`` > 0 also "objects": the ``objects`` true objects with the most missed rows,
    most first, each {"sequence", "id", "class", "size": [w, h] (its first box), "first" (frame),
    "missed", "life": one character per frame from its first to its last, "#" found, "o" missed
    with a reported box overlapping it, "." missed with none, " " not annotated}."""
    true: dict = {}
    missed: dict = {}
    false = dict.fromkeys(FP_KINDS, 0)
    hidden = {"true": 0, "missed": 0}
    per_track, per_object = [], []
    done, missing = [], []
    for s in find_sequences(Path(gt_root), Path(pred_root)):
        if s.missing:
            missing.append(s.name)
            continue
        gt, pred = read_mot(s.gt), read_mot(s.pred)
        gt_frames, pred_frames = gt.by_frame(), pred.by_frame()
        wrong, over = Counter(), {}
        life = {}  # true id -> {frame: "#", "o" or "."}
        for n in sorted(set(gt_frames) | set(pred_frames)):
            g, p = gt_frames.get(n, Tracks()), pred_frames.get(n, Tracks())
            for c, b in zip(g.classes.tolist(), (g.boxes[:, 2:] - g.boxes[:, :2]).max(axis=1).tolist()):
                bands, band = true.setdefault(CLASS_NAMES.get(c, "unknown"), {}), size_band(b)
                bands[band] = bands.get(band, 0) + 1
            m, f = frame_losses(g, p, match)
            under = covered(g.boxes)
            hidden["true"] += int(under.sum())
            hidden["missed"] += int(sum(under[i] for i, *_ in m))
            if objects:
                for k in g.ids.tolist():
                    life.setdefault(int(k), {})[n] = "#"
            for i, c, band, why in m:
                cell = missed.setdefault(CLASS_NAMES.get(c, "unknown"), {}).setdefault(band, {"off": 0, "none": 0})
                cell[why] += 1
                if objects:
                    life[int(g.ids[i])][n] = "o" if why == "off" else "."
            for j, kind in f:
                false[kind] += 1
                if tracks:
                    t = int(p.ids[j])
                    wrong[t] += 1
                    over.setdefault(t, Counter())[_overlapped(g, p.boxes[j])] += 1
        for t, n in wrong.items():
            boxes = pred.boxes[pred.ids == t]
            per_track.append({"sequence": s.name, "id": t, "rows": len(boxes), "false": n,
                              "size": [round(float(v), 1) for v in (boxes[:, 2:] - boxes[:, :2]).mean(axis=0)],
                              "over": dict(over[t].most_common(3))})
        if objects:
            for k, marks in life.items():
                lost = sum(v != "#" for v in marks.values())
                if not lost:
                    continue
                first, last = min(marks), max(marks)
                row = np.flatnonzero((gt.ids == k) & (gt.frames == first))[0]
                per_object.append({"sequence": s.name, "id": k, "class": CLASS_NAMES.get(int(gt.classes[row]), "unknown"),
                                   "size": [round(float(v), 1) for v in gt.boxes[row, 2:] - gt.boxes[row, :2]],
                                   "first": int(first), "missed": int(lost),
                                   "life": "".join(marks.get(n, " ") for n in range(first, last + 1))})
        done.append(s.name)
    result = {"match": match.describe(), "true": true, "missed": missed, "false": false, "covered": hidden,
              "sequences": done, "missing": missing}
    if tracks:
        result["tracks"] = sorted(per_track, key=lambda r: (-r["false"], r["sequence"], r["id"]))[:tracks]
    if objects:
        result["objects"] = sorted(per_object, key=lambda r: (-r["missed"], r["sequence"], r["id"]))[:objects]
    return result


def format_losses(result: dict) -> str:
    lines = [f"missed true boxes ({result['match']}): off = a reported box overlaps it, none = no box does",
             f"{'class':<10}{'size':>6}{'true':>8}{'missed':>8}{'off':>7}{'none':>7}"]
    for name, bands in sorted(result["true"].items()):
        for band in sorted(bands, key=lambda b: (b.startswith(">"), float(b.lstrip("<>=")))):
            cell = result["missed"].get(name, {}).get(band, {"off": 0, "none": 0})
            lines.append(f"{name:<10}{band:>6}{bands[band]:>8}{cell['off'] + cell['none']:>8}{cell['off']:>7}{cell['none']:>7}")
    total_true = sum(sum(b.values()) for b in result["true"].values())
    total_missed = sum(c["off"] + c["none"] for b in result["missed"].values() for c in b.values())
    lines.append(f"{'all':<10}{'':>6}{total_true:>8}{total_missed:>8}")
    lines.append(f"covered (half inside another true box): {result['covered']['true']} true rows, "
                 f"{result['covered']['missed']} of them missed")
    lines.append("false positives: " + ", ".join(f"{k} {v}" for k, v in result["false"].items())
                 + f" (all {sum(result['false'].values())})")
    if result.get("tracks"):
        lines.append("tracks with the most false rows:")
        lines.append(f"{'sequence':<16}{'id':>6}{'rows':>7}{'false':>7}{'mean size':>15}  false rows over true ids")
        for r in result["tracks"]:
            w, h = r["size"]
            over = ", ".join(f"{k}: {v}" for k, v in r["over"].items())
            lines.append(f"{r['sequence']:<16}{r['id']:>6}{r['rows']:>7}{r['false']:>7}{f'{w:.0f} x {h:.0f}':>15}  {over}")
    if result.get("objects"):
        lines.append("true objects with the most missed rows (# found, o a box overlaps it, . none does):")
        lines.append(f"{'sequence':<16}{'id':>6}  {'class':<9}{'size':>10}{'first':>7}{'missed':>8}  life")
        for r in result["objects"]:
            w, h = r["size"]
            lines.append(f"{r['sequence']:<16}{r['id']:>6}  {r['class']:<9}{f'{w:.0f} x {h:.0f}':>10}{r['first']:>7}"
                         f"{r['missed']:>8}  {r['life']}")
    if result["missing"]:
        lines.append("missing: " + ", ".join(result["missing"]))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.losses", description=__doc__.split("\n\n")[0])
    add_roots_args(p)
    p.add_argument("--json", help="write the counts as JSON here")
    p.add_argument("--tracks", type=int, default=0, metavar="N",
                   help="also list the N reported tracks with the most false rows")
    p.add_argument("--objects", type=int, default=0, metavar="N",
                   help="also list the N true objects with the most missed rows, frame by frame")
    args = p.parse_args(argv)
    for name in ("tracks", "objects"):
        if getattr(args, name) < 0:
            p.error(f"--{name} must be 0 or more, got {getattr(args, name)}")
    result = losses(args.gt, args.pred, matching_of(args), args.tracks, args.objects)
    if not result["sequences"]:
        print(f"no sequence has both ground truth and predictions: {', '.join(result['missing']) or 'none found'}",
              file=sys.stderr)
        return 1
    print(format_losses(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

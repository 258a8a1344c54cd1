"""Score tracking (and segmentation) results against ground truth, over many sequences.

    python -m benchmarks.score --gt GT_ROOT --pred PRED_ROOT [--iou 0.5 | --match centre --distance 5]
                               [--json OUT] [--report DIR]

Ground truth: every folder under GT_ROOT holding ``gt/gt.txt`` (MOTChallenge), ``gt.txt`` (the
synthetic generator) or a SAT-MTB ``mot/`` file. Predictions: ``PRED_ROOT/SEQ.txt`` or
``PRED_ROOT/SEQ/tracks.txt`` (a pipeline output folder, whose ``masks.jsonl`` is scored against
the generator's ``masks/`` or SAT-MTB's ``seg/`` where present). A sequence with no
predictions or no ground truth is listed as missing, never dropped.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data.mot import CLASS_NAMES, Tracks, read_mot
from data.satmtb import read_sequence

from .tracking import Matching, accumulate, clear_metrics, hota


@dataclass
class SeqFiles:
    name: str
    gt: Path | None
    pred: Path | None
    gt_masks: Path | None = None  # generator mask PNG folder, or SAT-MTB seg folder
    pred_masks: Path | None = None
    missing: list[str] = field(default_factory=list)


def ground_truth_folders(gt_root: Path) -> dict[str, tuple[Path, Path, Path | None]]:
    """{name: (folder, ground-truth file, mask folder or None)} for every sequence under
    ``gt_root`` (the root itself when it is one sequence)."""
    found = {}
    for d in sorted([gt_root, *gt_root.rglob("*")]):
        if not d.is_dir() or d.name in ("gt", "img", "img1", "seg", "mot", "masks", "det"):
            continue
        gt, masks = None, None
        if (d / "gt" / "gt.txt").is_file():
            gt = d / "gt" / "gt.txt"
        elif (d / "gt.txt").is_file():
            gt = d / "gt.txt"
        elif (d / "mot").is_dir():
            gt = read_sequence(d).mot
        if gt is None:
            continue
        if (d / "masks").is_dir():
            masks = d / "masks"
        elif (d / "seg").is_dir():
            masks = d / "seg"
        found[d.name if d != gt_root else gt_root.name] = (d, gt, masks)
    return found


def find_sequences(gt_root: Path, pred_root: Path) -> list[SeqFiles]:
    found: dict[str, SeqFiles] = {}
    for name, (_, gt, masks) in ground_truth_folders(gt_root).items():
        pred = next((p for p in (pred_root / f"{name}.txt", pred_root / name / "tracks.txt") if p.is_file()), None)
        pm = pred_root / name / "masks.jsonl"
        found[name] = SeqFiles(name, gt, pred, masks, pm if pm.is_file() else None)
    for p in sorted(pred_root.glob("*.txt")) + sorted(pred_root.glob("*/tracks.txt")):
        name = p.stem if p.name != "tracks.txt" else p.parent.name
        if name not in found:
            found[name] = SeqFiles(name, None, p)
    for s in found.values():
        if s.gt is None:
            s.missing.append("ground truth")
        if s.pred is None:
            s.missing.append("predictions")
    return list(found.values())


def _gt_masks(folder: Path, frame: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(mask, box)] of a frame's true objects."""
    from data.masks import tight_box

    png = folder / f"{frame:06d}.png"
    if png.is_file():
        import cv2

        ids = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        out = []
        for i in np.unique(ids):
            if i:
                m = ids == i
                out.append((m, tight_box(m)))
        return out
    js = folder / f"{frame:06d}.json"
    if js.is_file():
        from data.satmtb import read_seg_json

        return [(o.mask, tight_box(o.mask)) for o in read_seg_json(js)]
    return []


def mask_scores(gt_folder: Path, pred_jsonl: Path, min_iou: float) -> dict:
    """mIoU and mBIoU over true object instances (a missed object scores 0), objects matched
    to predictions by box IoU (Hungarian, at least ``min_iou``). Boundary IoU is taken on a
    crop around each object (``rossam.metrics.object_boundary_iou``)."""
    from pycocotools import mask as mask_utils

    from data.masks import tight_box
    from rossam.metrics import mask_iou, object_boundary_iou
    from trackers.matching import assign, iou_matrix

    gt_folder = Path(gt_folder)
    ious, bious = [], []
    with open(pred_jsonl) as f:
        for line in f:
            rec = json.loads(line)
            truth = _gt_masks(gt_folder, rec["frame"])
            if not truth:
                continue
            preds = [mask_utils.decode(o["rle"]).astype(bool) for o in rec["objects"]]
            pboxes = np.array([tight_box(m) for m in preds]).reshape(-1, 4)
            gboxes = np.array([b for _, b in truth]).reshape(-1, 4)
            valid = ~np.isnan(pboxes[:, 0]) if len(pboxes) else np.zeros(0, bool)
            cost = 1 - iou_matrix(gboxes, np.where(valid[:, None], pboxes, 0))
            matches, unmatched, _ = assign(cost, 1 - min_iou)
            for r, c in matches:
                ious.append(mask_iou(preds[c], truth[r][0]))
                bious.append(object_boundary_iou(preds[c], truth[r][0]))
            ious += [0.0] * len(unmatched)
            bious += [0.0] * len(unmatched)
    return {"miou": float(np.mean(ious)) if ious else math.nan, "mbiou": float(np.mean(bious)) if bious else math.nan,
            "mask_objects": len(ious)}


def score(gt_root: str | Path, pred_root: str | Path, min_iou: float = 0.5, match: Matching | None = None) -> dict:
    """Scores of every sequence under ``gt_root`` against ``pred_root``. Boxes pair at IoU >=
    ``min_iou``, or by ``match`` when given (``Matching("centre", 5)``); masks always by IoU."""
    match = match or Matching("iou", min_iou)
    seqs = find_sequences(Path(gt_root), Path(pred_root))
    rows, accs, names, by_class = {}, [], [], {}
    all_gt, all_pred = [], []
    for s in seqs:
        if s.missing:
            rows[s.name] = {"missing": s.missing}
            continue
        gt, pred = read_mot(s.gt), read_mot(s.pred)
        accs.append(accumulate(gt, pred, match))
        names.append(s.name)
        rows[s.name] = hota(gt, pred, match)
        if s.gt_masks is not None and s.pred_masks is not None:
            rows[s.name].update(mask_scores(s.gt_masks, s.pred_masks, min_iou))
        # sequences laid end to end in time, so that overall and per-class scores never match
        # one sequence's ids or frames with another's
        offset = 10**6 * len(all_gt)
        gt = Tracks(gt.frames + offset, gt.ids + offset, gt.boxes, gt.scores, gt.classes)
        pred = Tracks(pred.frames + offset, pred.ids + offset, pred.boxes, pred.scores, pred.classes)
        all_gt.append(gt)
        all_pred.append(pred)
        for c in np.unique(gt.classes):
            if c < 0 or not (pred.classes >= 0).any():
                continue
            by_class.setdefault(int(c), ([], []))
            by_class[int(c)][0].append(gt.select(gt.classes == c))
            by_class[int(c)][1].append(pred.select(pred.classes == c))
    if accs:
        df = clear_metrics(accs, names, match)
        for name in df.index:
            rows.setdefault(name, {}).update({k: float(v) for k, v in df.loc[name].items()})
        rows["OVERALL"].update(hota(Tracks.concat(all_gt), Tracks.concat(all_pred), match))
        masks = [rows[n] for n in names if "miou" in rows[n]]
        if masks:
            w = np.array([m["mask_objects"] for m in masks], float)
            rows["OVERALL"]["miou"] = float(np.average([m["miou"] for m in masks], weights=w))
            rows["OVERALL"]["mbiou"] = float(np.average([m["mbiou"] for m in masks], weights=w))
    classes = {}
    for c, (g, p) in sorted(by_class.items()):
        gt_c, pred_c = Tracks.concat(g), Tracks.concat(p)
        df = clear_metrics([accumulate(gt_c, pred_c, match)], [CLASS_NAMES.get(c, str(c))], match)
        classes[CLASS_NAMES.get(c, str(c))] = {**{k: float(v) for k, v in df.iloc[0].items()}, **hota(gt_c, pred_c, match)}
    return {"iou": min_iou, "match": match.describe(), "sequences": rows, "classes": classes}


COLUMNS = ["mota", "motp", "idf1", "idp", "idr", "hota", "deta", "assa", "num_switches", "num_false_positives",
           "num_misses", "miou", "mbiou"]


def format_table(rows: dict) -> str:
    head = f"{'sequence':<24}" + "".join(f"{c[:9]:>10}" for c in COLUMNS)
    lines = [head, "-" * len(head)]
    for name, r in rows.items():
        if "missing" in r:
            lines.append(f"{name:<24}  missing: {', '.join(r['missing'])}")
            continue
        cells = []
        for c in COLUMNS:
            v = r.get(c)
            cells.append(f"{'-':>10}" if v is None or (isinstance(v, float) and math.isnan(v)) else
                         (f"{int(v):>10d}" if c.startswith("num_") else f"{v:>10.4f}"))
        lines.append(f"{name[:24]:<24}" + "".join(cells))
    return "\n".join(lines)


def write_report(result: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    seqs = {k: v for k, v in result["sequences"].items() if k != "OVERALL" and "missing" not in v}
    fig, ax = plt.subplots(figsize=(max(6, len(seqs) * 0.6), 4))
    x = np.arange(len(seqs))
    ax.bar(x - 0.2, [v["mota"] for v in seqs.values()], 0.4, label="MOTA")
    ax.bar(x + 0.2, [v["idf1"] for v in seqs.values()], 0.4, label="IDF1")
    ax.set_xticks(x, list(seqs), rotation=45, ha="right")
    ax.legend()
    ax.set_title("per sequence")
    fig.tight_layout()
    fig.savefig(out / "sequences.png", dpi=100)
    plt.close(fig)
    md = ["# Tracking scores", "", f"Match: {result.get('match', 'IoU >= %s' % result['iou'])}", "", "```", format_table(result["sequences"]),
          "```", "", "![per sequence](sequences.png)"]
    if result["classes"]:
        fig, ax = plt.subplots(figsize=(6, 4))
        names = list(result["classes"])
        x = np.arange(len(names))
        for k, (metric, off) in enumerate((("mota", -0.25), ("idf1", 0), ("hota", 0.25))):
            ax.bar(x + off, [result["classes"][n][metric] for n in names], 0.25, label=metric.upper())
        ax.set_xticks(x, names)
        ax.legend()
        ax.set_title("per class")
        fig.tight_layout()
        fig.savefig(out / "classes.png", dpi=100)
        plt.close(fig)
        md += ["", "## Per class", "", "```", format_table(result["classes"]), "```", "", "![per class](classes.png)"]
    path = out / "report.md"
    path.write_text("\n".join(md) + "\n")
    return path


def add_roots_args(p: argparse.ArgumentParser) -> None:
    """--gt and --pred roots, and how boxes pair (``add_matching_args``)."""
    p.add_argument("--gt", required=True, help="ground-truth root")
    p.add_argument("--pred", required=True, help="predictions root (a run's output folder, or SEQ.txt files)")
    add_matching_args(p)


def add_matching_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--iou", type=float, default=0.5, help="match threshold (SAT-MTB evaluations use 0.3)")
    p.add_argument("--match", choices=["iou", "centre"], default="iou",
                   help="pair boxes by IoU (default) or by centre distance (--distance)")
    p.add_argument("--distance", type=float, default=5.0, help="with --match centre: the most px between centres")


def matching_of(args) -> Matching:
    return Matching("iou", args.iou) if args.match == "iou" else Matching("centre", args.distance)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.score", description=__doc__.split("\n\n")[0])
    add_roots_args(p)
    p.add_argument("--json", help="write the scores as JSON here")
    p.add_argument("--report", help="write a markdown report with plots into this folder")
    args = p.parse_args(argv)
    try:
        result = score(args.gt, args.pred, args.iou, matching_of(args))
    except (OSError, ValueError) as e:
        print(f"benchmarks.score: {e}", file=sys.stderr)
        return 1
    print(format_table(result["sequences"]))
    if result["classes"]:
        print()
        print(format_table(result["classes"]))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.report:
        print(f"report: {write_report(result, Path(args.report))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

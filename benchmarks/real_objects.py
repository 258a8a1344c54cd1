"""Box-prompted segmentation of real objects from public annotation formats, against baselines.

    python -m benchmarks.real_objects [--dota DIR] [--airbus DIR] [--checkpoint PATH]
                                      [--clean all,centre+holes,...] [--no-grabcut]

The project holds no real imagery: point the options at local copies.

- ``--dota DIR``: DOTA's layout (``images/NAME.png``, ``labelTxt/NAME.txt`` with one oriented box
  ``x1 y1 ... x4 y4 class difficult`` a line). Each vehicle, ship or plane (``difficult`` and
  DOTA's other classes, such as harbours, left out) is prompted
  with the axis-aligned box around its oriented box and scored by IoU with the filled oriented
  box, which vehicles and boats fill closely. Per image: mIoU of each method.
- ``--airbus DIR``: folders ``NAME/`` with ``image.jpg`` and ``boxes.txt`` (``x1,y1,x2,y2`` a
  line, loose boxes around whole airplanes, no masks). Per method: ``fill``, the share of the
  box the mask covers (an airplane covers about 0.15-0.45 of a loose box; filling the box is
  1.0), and ``stray``, the share of mask pixels outside its largest connected part (shadows,
  markings, a neighbour).

Methods: the embedded model with each clean-up of ``--clean`` (``KEEP[+holes][+rect]``, see
``data.masks.clean_mask`` and ``rectangle_if_compact``; the mask is first clipped to its box, as
``BoxPredictor`` does by default), GrabCut from the box, and filling the box.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .baselines import box_fill, grabcut


# DOTA's classes that are objects this project tracks (piers, storage tanks, courts are not)
DOTA_CLASSES = {"small-vehicle": "car", "large-vehicle": "car", "ship": "ship", "plane": "airplane"}


def read_dota_labels(path: str | Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """DOTA ``labelTxt``: ([N, 4, 2] corners, classes, [N] difficult). Header lines (image
    source, gsd) and malformed lines are skipped."""
    polys, classes, difficult = [], [], []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) < 9:
            continue
        try:
            xy = np.array([float(v) for v in parts[:8]]).reshape(4, 2)
        except ValueError:
            continue
        polys.append(xy)
        classes.append(parts[8])
        difficult.append(len(parts) > 9 and parts[9] == "1")
    return np.array(polys).reshape(-1, 4, 2), classes, np.array(difficult, bool)


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot read image {path}")
    return np.ascontiguousarray(image[:, :, ::-1])


def _methods(checkpoint: str, cleanups: list[str], grab: bool, precision: str = "auto") -> dict:
    from rossam import BoxPredictor, build_rossam

    model = build_rossam("tiny", checkpoint)
    methods = {}
    for c in cleanups:
        keep, *flags = c.split("+")
        if not set(flags) <= {"holes", "rect"}:
            raise ValueError(f"--clean: {c!r} is not KEEP[+holes][+rect]")
        predictor = BoxPredictor(model, keep=keep, fill_holes="holes" in flags, rectangle=0.6 if "rect" in flags else None,
                                 precision=precision)
        methods[f"rossam {c}"] = lambda image, boxes, p=predictor: p.predict(image, boxes).full_masks()
    if grab:
        methods["grabcut"] = lambda image, boxes: np.stack([grabcut(image, b) for b in boxes])
    methods["box"] = lambda image, boxes: np.stack([box_fill(image.shape[:2], b) for b in boxes])
    return methods


def evaluate_dota(root: str | Path, methods: dict) -> dict:
    """{image: {method: mIoU, "objects": n}} over every labelled image of a DOTA folder."""
    import cv2

    from rossam.metrics import mask_iou

    root = Path(root)
    out = {}
    for label in sorted((root / "labelTxt").glob("*.txt")):
        image = _read_rgb(root / "images" / f"{label.stem}.png")
        polys, classes, difficult = read_dota_labels(label)
        polys = polys[~difficult & np.isin(classes, list(DOTA_CLASSES))]
        if not len(polys):
            continue
        h, w = image.shape[:2]
        boxes = np.c_[polys.min(axis=1), polys.max(axis=1)]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        polys, boxes = polys[ok], boxes[ok]
        truths = []
        for p in polys:
            m = np.zeros((h, w), np.uint8)
            cv2.fillPoly(m, [np.round(p).astype(np.int32)], 1)
            truths.append(m > 0)
        row = {"objects": len(boxes)}
        for name, segment in methods.items():
            masks = segment(image, boxes)
            row[name] = float(np.mean([mask_iou(m, t) for m, t in zip(masks, truths)]))
        out[label.stem] = row
    return out


def stray_share(mask: np.ndarray) -> float:
    """The share of mask pixels outside its largest 8-connected part (0 for an empty mask)."""
    import cv2

    total = int(mask.sum())
    if total == 0:
        return 0.0
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return 1.0 - stats[1:, cv2.CC_STAT_AREA].max() / total


def evaluate_airbus(root: str | Path, methods: dict) -> dict:
    """{method: {"fill": mean, "stray": mean, "stray_pixels": share over all, "objects": n}}."""
    root = Path(root)
    acc = {m: {"fill": [], "stray": [], "mask": 0, "strays": 0.0} for m in methods}
    for folder in sorted(p for p in root.iterdir() if (p / "boxes.txt").exists()):
        boxes = np.loadtxt(folder / "boxes.txt", delimiter=",", ndmin=2)
        if not len(boxes):
            continue
        image = _read_rgb(folder / "image.jpg")
        for name, segment in methods.items():
            for b, m in zip(boxes, segment(image, boxes)):
                x1, y1, x2, y2 = (int(round(v)) for v in b)
                inside = m[y1:y2, x1:x2]
                acc[name]["fill"].append(inside.mean() if inside.size else 0.0)
                s = stray_share(m)
                acc[name]["stray"].append(s)
                acc[name]["mask"] += int(m.sum())
                acc[name]["strays"] += s * m.sum()
    return {m: {"fill": float(np.mean(a["fill"])), "stray": float(np.mean(a["stray"])),
                "stray_pixels": a["strays"] / max(a["mask"], 1), "objects": len(a["fill"])} for m, a in acc.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.real_objects", description=__doc__.split("\n\n")[0])
    p.add_argument("--dota", help="a folder in DOTA's layout (images/, labelTxt/)")
    p.add_argument("--airbus", help="a folder of NAME/image.jpg + NAME/boxes.txt")
    p.add_argument("--checkpoint", default="default", help="the model to score (default: embedded tiny)")
    p.add_argument("--clean", default="all,centre,centre+holes",
                   help="comma-separated mask clean-ups to score: KEEP[+holes][+rect], KEEP in all, centre, largest")
    p.add_argument("--no-grabcut", action="store_true", help="leave GrabCut out (slow on large images)")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "float32"],
                   help="the segmenter's arithmetic (auto: bf16 where the device has it in hardware)")
    args = p.parse_args(argv)
    if not args.dota and not args.airbus:
        p.error("give --dota DIR and/or --airbus DIR")
    try:
        methods = _methods(args.checkpoint, args.clean.split(","), not args.no_grabcut, args.precision)
        if args.dota:
            res = evaluate_dota(args.dota, methods)
            print(f"DOTA {args.dota}: mIoU with the filled oriented box")
            print(f"{'image':<12}{'objects':>8}" + "".join(f"{m:>22}" for m in methods))
            for name, row in res.items():
                print(f"{name:<12}{row['objects']:>8}" + "".join(f"{row[m]:>22.3f}" for m in methods))
        if args.airbus:
            res = evaluate_airbus(args.airbus, methods)
            print(f"airplanes {args.airbus}: share of the box filled, stray pixels (mean per object; over all pixels)")
            print(f"{'method':<22}{'objects':>8}{'fill':>8}{'stray':>8}{'stray px':>10}")
            for m, r in res.items():
                print(f"{m:<22}{r['objects']:>8}{r['fill']:>8.3f}{r['stray']:>8.3f}{r['stray_pixels']:>10.3f}")
    except (OSError, ValueError) as e:
        print(f"benchmarks.real_objects: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

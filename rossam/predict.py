"""Segment boxes on one image: ``python -m rossam.predict IMAGE --box x1,y1,x2,y2 ... --out DIR``.

Writes ``DIR/mask_000.png`` ... (full-frame, 0/255, one per box in input order),
``DIR/overlay.png`` and ``DIR/results.json`` (per box: the box, predicted IoU, tight box).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def parse_box(text: str, where: str = "--box") -> list[float]:
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if len(parts) != 4:
        raise ValueError(f"{where}: expected x1,y1,x2,y2, got {text!r}")
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"{where}: expected numbers, got {text!r}") from None


def read_boxes_file(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such boxes file")
    boxes = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#")[0].strip()
        if line:
            boxes.append(parse_box(line, f"{path}:{n}"))
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rossam.predict", description=__doc__.split("\n\n")[0])
    p.add_argument("image", help="an RGB image file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--box", action="append", metavar="X1,Y1,X2,Y2", help="a box prompt (repeatable)")
    src.add_argument("--boxes", metavar="FILE", help="a file with one x1,y1,x2,y2 per line")
    p.add_argument("--variant", default="tiny", help="model variant (default: tiny, the embedded model)")
    p.add_argument("--checkpoint", default="default", help="any checkpoint rossam loads (default: embedded tiny weights)")
    p.add_argument("--random-init", action="store_true", help="a variant with random weights (without it, a variant "
                   "with no --checkpoint is refused)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--precision", default="auto", choices=("auto", "bf16", "float32"),
                   help="the model's arithmetic (auto: bf16 where the device has it in hardware, else float32)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-share", action="store_true", help="one window per object, as the reference code")
    p.add_argument("--fixed-zoom", action="store_true", help="the paper's fixed window (x2) for every object, "
                   "instead of smaller windows for small objects")
    p.add_argument("--keep", default="centre", choices=("centre", "largest", "all"),
                   help="which parts of a mask are kept: those at the box's centre (default), the largest, or all")
    p.add_argument("--keep-holes", action="store_true", help="leave holes enclosed by a mask unfilled")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from data.images import read_image, write_image
        from data.overlay import draw

        from . import BoxPredictor, build_rossam, resolve_device

        image = read_image(args.image)
        boxes = read_boxes_file(args.boxes) if args.boxes else np.array([parse_box(b) for b in args.box])
        device = resolve_device(args.device)
        if args.random_init and args.checkpoint != "default":
            raise ValueError("give either --checkpoint or --random-init, not both")
        model = build_rossam(args.variant, None if args.random_init else args.checkpoint).to(device)
        pred = BoxPredictor(model, share_windows=not args.no_share, adaptive_zoom=not args.fixed_zoom,
                            keep=args.keep, fill_holes=not args.keep_holes, precision=args.precision).predict(image, boxes)
    except (OSError, ValueError) as e:
        print(f"rossam.predict: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for i in range(len(pred)):
        write_image(out / f"mask_{i:03d}.png", pred.full_mask(i).astype(np.uint8) * 255)
        tb = pred.boxes[i]
        results.append({
            "index": i,
            "box": [float(v) for v in boxes[i]],
            "predicted_iou": float(pred.iou[i]),
            "tight_box": None if np.isnan(tb).any() else [float(v) for v in tb],
        })
    write_image(out / "overlay.png", draw(image, pred.masks, pred.offsets, boxes))
    tmp = out / ".results.json.tmp"
    tmp.write_text(json.dumps({"image": str(args.image), "variant": args.variant, "objects": results}, indent=1))
    tmp.replace(out / "results.json")
    print(f"{len(results)} masks written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

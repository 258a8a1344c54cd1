"""Box-prompted segmentation quality on held-out synthetic objects, against baselines.

    python -m benchmarks.segmentation [--checkpoint PATH] [--samples 400] [--seed 20000] [--min-size 8]

Every object is segmented from its true box through ``BoxPredictor`` (the paper's crop-and-zoom
protocol) and scored with mask IoU and boundary IoU. Baselines from the same box: an untrained
``tiny``, GrabCut (``cv2.grabCut`` started from the box) and filling the box. The frames come from
``data.synthetic`` with a seed that training never uses.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .baselines import box_fill, grabcut


def evaluate(checkpoint: str = "default", samples: int = 400, seed: int = 20_000, min_size: float = 8.0,
             window: int = 256, classes=None, methods=("rossam", "untrained", "grabcut", "box")) -> dict:
    from data.synthetic.patches import sample_patch
    from data.synthetic.shapes import CLASSES, CLASS_IDS
    from rossam import BoxPredictor, build_rossam
    from rossam.metrics import boundary_iou, mask_iou

    classes = tuple(classes or CLASSES)
    predictors = {}
    if "rossam" in methods:
        predictors["rossam"] = BoxPredictor(build_rossam("tiny", checkpoint), share_windows=False)
    if "untrained" in methods:
        import torch

        torch.manual_seed(0)
        predictors["untrained"] = BoxPredictor(build_rossam("tiny", None), share_windows=False, hq_token_only=True)
    scores = {m: {"iou": [], "biou": [], "cls": []} for m in methods}
    names = {v: k for k, v in CLASS_IDS.items()}
    for i in range(samples):
        rng = np.random.default_rng([seed, i])
        p = sample_patch(rng, window, classes)
        box = p.boxes[0]
        if max(box[2] - box[0], box[3] - box[1]) < min_size:
            continue
        truth = p.masks[0]
        for m in methods:
            if m in predictors:
                pred = predictors[m].predict(p.image, box[None]).full_mask(0)
            elif m == "grabcut":
                pred = grabcut(p.image, box)
            else:
                pred = box_fill(truth.shape, box)
            scores[m]["iou"].append(mask_iou(pred, truth))
            scores[m]["biou"].append(boundary_iou(pred, truth))
            scores[m]["cls"].append(names[int(p.classes[0])])
    out = {}
    for m, s in scores.items():
        cls = np.array(s["cls"])
        out[m] = {"miou": float(np.mean(s["iou"])), "mbiou": float(np.mean(s["biou"])), "objects": len(s["iou"]),
                  "by_class": {c: float(np.mean(np.array(s["iou"])[cls == c])) for c in sorted(set(cls))}}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.segmentation", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="default", help="the model to score (default: embedded tiny)")
    p.add_argument("--samples", type=int, default=400)
    p.add_argument("--seed", type=int, default=20_000, help="held-out seed (training uses 0, validation 10000)")
    p.add_argument("--min-size", type=float, default=8.0, help="objects whose longer side is at least this (px)")
    args = p.parse_args(argv)
    try:
        res = evaluate(args.checkpoint, args.samples, args.seed, args.min_size)
    except (OSError, ValueError) as e:
        print(f"benchmarks.segmentation: {e}", file=sys.stderr)
        return 1
    print(f"{'method':<12}{'mIoU':>8}{'mBIoU':>8}{'objects':>9}   mIoU by class")
    for m, r in res.items():
        by = "  ".join(f"{c} {v:.3f}" for c, v in r["by_class"].items())
        print(f"{m:<12}{r['miou']:>8.3f}{r['mbiou']:>8.3f}{r['objects']:>9}   {by}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

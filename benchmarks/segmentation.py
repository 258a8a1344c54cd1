"""Box-prompted segmentation quality on held-out synthetic objects, against baselines; and the
paper's protocol on a ROS-SAM layout split.

    python -m benchmarks.segmentation [--checkpoint PATH] [--samples 400] [--seed 20000] [--min-size 8]
                                      [--clips 10]
    python -m benchmarks.segmentation --protocol paper --data SPLIT [--variant V] [--checkpoint PATH]
                                      [--json OUT]

Every object is segmented from its true box through ``BoxPredictor`` (crop-and-zoom) and
scored with mask IoU and boundary IoU (on a crop around the object, ``object_boundary_iou``): ``rossam`` with the adaptive zoom (the default),
``rossam-fixed`` with the paper's fixed window. Baselines from the same box: an untrained
``tiny``, GrabCut (``cv2.grabCut`` started from the box) and filling the box. Two sources, both
from ``data.synthetic`` with seeds that training never uses: training-style patches (objects of
at least ``--min-size`` px), and every object of whole generated clip frames (``--clips`` of
them, 512 x 512), where most are 4-16 px cars, scored by size.

``--protocol paper`` scores as the authors' ``train/inference.py`` does: every object of an
image segmented from its exact box in its own fixed window (no sharing, the x2 zoom), the HQ
mask alone, no clean-up; per image, the union of its predicted masks against the union of its
true masks (image-level IoU, and boundary IoU with a band of 0.02 of the frame's diagonal),
averaged over images; cars left out. Object-level IoU (each object's mask against its own) is
reported beside them.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .baselines import box_fill, grabcut


def evaluate(checkpoint: str = "default", samples: int = 400, seed: int = 20_000, min_size: float = 8.0,
             window: int = 256, classes=None,
             methods=("rossam", "rossam-fixed", "untrained", "grabcut", "box"), precision: str = "auto") -> dict:
    from data.synthetic.patches import sample_patch
    from data.synthetic.shapes import CLASSES, CLASS_IDS
    from rossam import BoxPredictor, build_rossam
    from rossam.metrics import mask_iou, object_boundary_iou as boundary_iou

    classes = tuple(classes or CLASSES)
    predictors = {}
    if "rossam" in methods or "rossam-fixed" in methods:
        model = build_rossam("tiny", checkpoint)
        predictors["rossam"] = BoxPredictor(model, share_windows=False, precision=precision)
        predictors["rossam-fixed"] = BoxPredictor(model, share_windows=False, adaptive_zoom=False, precision=precision)
    if "untrained" in methods:
        import torch

        torch.manual_seed(0)
        predictors["untrained"] = BoxPredictor(build_rossam("tiny", None), share_windows=False, hq_token_only=True,
                                               precision=precision)
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


SIZE_BINS = ((0, 8), (8, 16), (16, 32), (32, 64), (64, 10**6))


def evaluate_clips(checkpoint: str = "default", clips: int = 10, seed: int = 30,
                   methods=("rossam", "rossam-fixed", "grabcut", "box"), precision: str = "auto") -> dict:
    """Every object (4 px or more) of frame 3 of ``clips`` generated 512 x 512 clips, segmented
    from its true box all at once per frame (shared windows), mIoU by longer side."""
    from data.synthetic.clip import ClipConfig, SyntheticClip, boxes_from_ids
    from rossam import BoxPredictor, build_rossam
    from rossam.metrics import mask_iou

    model = build_rossam("tiny", checkpoint)
    predictors = {"rossam": BoxPredictor(model, precision=precision),
                  "rossam-fixed": BoxPredictor(model, adaptive_zoom=False, precision=precision)}
    ious = {m: [] for m in methods}
    sides = []
    for k in range(clips):
        for t, image, ids in SyntheticClip(ClipConfig(frames=3, objects=20, size=512, seed=seed + k)):
            if t != 3:
                continue
            gt = {i: b for i, b in boxes_from_ids(ids).items() if (ids == i).sum() >= 4}
            keys = list(gt)
            boxes = np.array([gt[i] for i in keys]).reshape(-1, 4)
            sides += np.max(boxes[:, 2:] - boxes[:, :2], axis=1).tolist()
            for m in methods:
                if m in predictors:
                    pred = predictors[m].predict(image, boxes)
                    masks = [pred.full_mask(j) for j in range(len(keys))]
                elif m == "grabcut":
                    masks = [grabcut(image, b) for b in boxes]
                else:
                    masks = [box_fill(ids.shape, b) for b in boxes]
                ious[m] += [mask_iou(mk, ids == i) for mk, i in zip(masks, keys)]
    sides = np.array(sides)
    out = {}
    for m, v in ious.items():
        v = np.array(v)
        out[m] = {"miou": float(v.mean()), "objects": len(v),
                  "by_size": {f"{a}-{b if b < 10**6 else ''}": float(v[(sides > a) & (sides <= b)].mean())
                              for a, b in SIZE_BINS if ((sides > a) & (sides <= b)).any()}}
    return out


def evaluate_paper(data: str, variant: str = "vit_l", checkpoint: str | None = "default", exclude=("car",),
                   segmenter=None, progress: bool = False) -> dict:
    """The paper's protocol on a layout split (see the module's text). ``segmenter``: anything
    with ``BoxPredictor``'s ``predict`` in place of the model (a baseline)."""
    from tqdm import tqdm

    from data.rossam_layout import RosSamDataset
    from rossam.metrics import image_boundary_iou, image_iou, mask_iou

    ds = RosSamDataset(data, exclude_classes=exclude)
    if segmenter is None:
        from rossam import BoxPredictor, build_rossam

        model = build_rossam(variant, checkpoint)
        segmenter = BoxPredictor(model, share_windows=False, adaptive_zoom=False, hq_token_only=True, clip=False,
                                 keep="all", fill_holes=False)
    per_image, objects = [], []
    for i in tqdm(range(len(ds)), desc="images", disable=not progress):
        s = ds[i]
        pred = segmenter.predict(s["image"], s["boxes"])
        masks = np.stack([pred.full_mask(j) for j in range(len(pred))])
        ious = [mask_iou(m, t) for m, t in zip(masks, s["masks"])]
        objects += ious
        per_image.append({"name": s["name"], "objects": len(ious), "iou": image_iou(masks, s["masks"]),
                          "biou": image_boundary_iou(masks, s["masks"]), "object_iou": float(np.mean(ious))})
    if not per_image:
        raise ValueError(f"{data}: no image with objects to score")
    return {
        "protocol": "paper", "data": str(data), "variant": variant,
        "checkpoint": getattr(segmenter, "name", None) or (str(checkpoint) if checkpoint else None),
        "images": len(per_image), "objects": len(objects),
        "image_iou": float(np.mean([r["iou"] for r in per_image])),
        "image_biou": float(np.mean([r["biou"] for r in per_image])),
        "object_iou": float(np.mean(objects)),
        "skipped": ds.skipped,
        "per_image": per_image,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.segmentation", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="default", help="the model to score (default: embedded tiny)")
    p.add_argument("--samples", type=int, default=400)
    p.add_argument("--seed", type=int, default=20_000, help="held-out seed (training uses 0, validation 10000)")
    p.add_argument("--min-size", type=float, default=8.0, help="objects whose longer side is at least this (px)")
    p.add_argument("--clips", type=int, default=10, help="generated clip frames to score (0 skips them)")
    p.add_argument("--protocol", choices=["project", "paper"], default="project",
                   help="paper: the authors' evaluation on a layout split (--data)")
    p.add_argument("--data", help="with --protocol paper: a ROS-SAM layout split folder (img/, boxes/, onehotmask/)")
    p.add_argument("--variant", default="tiny", help="with --protocol paper: the model variant")
    p.add_argument("--random-init", action="store_true", help="with --protocol paper: random weights (a smoke test)")
    p.add_argument("--json", help="write the results here as JSON")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "float32"],
                   help="the segmenter's arithmetic (auto: bf16 where the device has it in hardware)")
    args = p.parse_args(argv)
    if args.protocol == "paper":
        return _paper(args)
    try:
        res = evaluate(args.checkpoint, args.samples, args.seed, args.min_size, precision=args.precision)
        by_size = evaluate_clips(args.checkpoint, args.clips, precision=args.precision) if args.clips else None
    except (OSError, ValueError) as e:
        print(f"benchmarks.segmentation: {e}", file=sys.stderr)
        return 1
    print(f"training-style patches, objects >= {args.min_size:g} px (seed {args.seed})")
    print(f"{'method':<14}{'mIoU':>8}{'mBIoU':>8}{'objects':>9}   mIoU by class")
    for m, r in res.items():
        by = "  ".join(f"{c} {v:.3f}" for c, v in r["by_class"].items())
        print(f"{m:<14}{r['miou']:>8.3f}{r['mbiou']:>8.3f}{r['objects']:>9}   {by}")
    if by_size:
        print(f"\nevery object of {args.clips} generated 512 x 512 clip frames, mIoU by longer side (px)")
        print(f"{'method':<14}{'mIoU':>8}{'objects':>9}   " + "  ".join(f"{k:>7}" for k in by_size["rossam"]["by_size"]))
        for m, r in by_size.items():
            print(f"{m:<14}{r['miou']:>8.3f}{r['objects']:>9}   " + "  ".join(f"{v:>7.3f}" for v in r["by_size"].values()))
    return 0


def _paper(args) -> int:
    import json
    from pathlib import Path

    if not args.data:
        print("benchmarks.segmentation: --protocol paper needs --data SPLIT", file=sys.stderr)
        return 2
    try:
        res = evaluate_paper(args.data, args.variant, None if args.random_init else args.checkpoint, progress=True)
    except (OSError, ValueError) as e:
        print(f"benchmarks.segmentation: {e}", file=sys.stderr)
        return 1
    print(f"{args.data}: {res['images']} images, {res['objects']} objects (cars left out)")
    print(f"image-level IoU {res['image_iou']:.4f}  boundary IoU {res['image_biou']:.4f} (band: 0.02 of the frame's "
          f"diagonal)  object-level IoU {res['object_iou']:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

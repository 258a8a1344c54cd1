"""The ROS-SAM training layout and a converter from SAT-MTB sequences.

    SPLIT/img/NAME.png          the frame
    SPLIT/boxes/NAME.npy        [N, 4] float xyxy
    SPLIT/onehotmask/NAME.npy   [N, H, W] uint8, 0/255
    SPLIT/classes/NAME.npy      [N] int (this project's addition: 0 car, 1 airplane, 2 ship,
                                3 train), so classes are excluded by configuration
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from .images import read_image, write_image
from .mot import CLASS_IDS
from .windows import EpochSamples
from .satmtb import read_seg_json, read_sequence

log = logging.getLogger(__name__)


class LayoutError(ValueError):
    pass


class RosSamDataset(Dataset):
    """Items: ``{"image", "boxes", "masks", "name", "classes"}`` as numpy arrays.

    A sample whose box and mask counts differ is skipped with a warning naming it (and counted
    in ``skipped``), or raises when ``strict``; an image with no boxes is skipped; classes in
    ``exclude_classes`` are removed from each sample (a sample left with none is skipped).
    """

    def __init__(self, root: str | Path, exclude_classes=(), strict: bool = False):
        self.root = Path(root)
        if not (self.root / "img").is_dir():
            raise LayoutError(f"{self.root}: no img/ folder (expected the ROS-SAM layout)")
        self.exclude = {CLASS_IDS[c] if isinstance(c, str) else int(c) for c in exclude_classes}
        self.skipped: dict[str, str] = {}
        self.names = []
        for img in sorted((self.root / "img").glob("*.png")):
            name = img.stem
            reason = self._check(name, strict)
            if reason:
                self.skipped[name] = reason
                log.warning("%s: skipped %s: %s", self.root, name, reason)
            else:
                self.names.append(name)

    def _arrays(self, name: str):
        boxes = np.load(self.root / "boxes" / f"{name}.npy")
        masks = np.load(self.root / "onehotmask" / f"{name}.npy", mmap_mode="r")
        cpath = self.root / "classes" / f"{name}.npy"
        classes = np.load(cpath) if cpath.is_file() else np.full(len(boxes), -1)
        return boxes, masks, classes

    def _check(self, name: str, strict: bool) -> str | None:
        try:
            boxes, masks, classes = self._arrays(name)
        except FileNotFoundError as e:
            reason = f"missing {Path(e.filename).parent.name}/{Path(e.filename).name}"
        else:
            reason = None
            if boxes.ndim != 2 or boxes.shape[1:] != (4,):
                reason = f"boxes have shape {boxes.shape}, expected [N, 4]"
            elif len(boxes) != len(masks):
                reason = f"{len(boxes)} boxes but {len(masks)} masks"
            elif len(classes) != len(boxes):
                reason = f"{len(boxes)} boxes but {len(classes)} classes"
            elif len(boxes) == 0:
                return "no boxes"
            elif self.exclude and np.isin(classes, list(self.exclude)).all():
                return "every object is of an excluded class"
            elif self.exclude and (classes < 0).any():
                reason = "classes are unknown (no classes/ file), so exclusion cannot apply"
        if reason and strict:
            raise LayoutError(f"{self.root}: {name}: {reason}")
        return reason

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict:
        name = self.names[i]
        boxes, masks, classes = self._arrays(name)
        keep = ~np.isin(classes, list(self.exclude))
        return {
            "image": read_image(self.root / "img" / f"{name}.png"),
            "boxes": boxes[keep].astype(np.float32),
            "masks": np.asarray(masks[keep]) > 127,
            "classes": classes[keep].astype(np.int64),
            "name": name,
        }


def write_sample(root: Path, name: str, image, boxes, masks, classes) -> None:
    for sub in ("img", "boxes", "onehotmask", "classes"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    write_image(root / "img" / f"{name}.png", image)
    np.save(root / "boxes" / f"{name}.npy", np.asarray(boxes, np.float32).reshape(-1, 4))
    np.save(root / "onehotmask" / f"{name}.npy", (np.asarray(masks, bool) * 255).astype(np.uint8))
    np.save(root / "classes" / f"{name}.npy", np.asarray(classes, np.int64))


def convert_satmtb(sequences: list[str | Path], out: str | Path, every: int = 4) -> dict:
    """Frames with segmentation, every ``every``-th (the paper keeps a quarter), into the layout.

    Frames whose segmentation file is missing are dropped and counted.
    """
    out = Path(out)
    report = {"written": 0, "no_segmentation": [], "frames_without_seg": 0}
    for seq_path in sequences:
        seq = read_sequence(seq_path)
        if seq.seg is None or seq.frames is None:
            report["no_segmentation"].append(seq.name)
            continue
        segs = seq.seg_files()
        frames = sorted(int(p.stem) for p in seq.frames.iterdir() if p.stem.isdigit())
        for n in frames[::every]:
            if n not in segs:
                report["frames_without_seg"] += 1
                continue
            objs = read_seg_json(segs[n])
            if not objs:
                continue
            img_file = next(seq.frames.glob(f"{n:06d}.*"))
            masks = np.stack([o.mask for o in objs])
            boxes = np.stack([o.box for o in objs])
            write_sample(out, f"{seq.name}_{n:06d}", read_image(img_file), boxes, masks, [o.cls for o in objs])
            report["written"] += 1
    return report


class LayoutWindows(EpochSamples):
    """Training windows from a layout split: each image augmented (``data.augment``: large-scale
    jitter to twice the window, flips, photometric), then cropped around one of its objects
    (ROS-SAM's crop, jittered) and zoomed to the encoder's size, with every object in it."""

    def __init__(self, root, variant, exclude_classes=(), seed: int = 0, max_objects: int = 4,
                 augment: bool = True):
        self.data = RosSamDataset(root, exclude_classes)
        self.variant = variant
        self.seed = seed
        self.max_objects = max_objects
        self.augment = augment

    def __len__(self) -> int:
        return len(self.data)

    MIN_PIXELS = 4  # an object with fewer pixels in a window is not a target (nor a box to learn)
    DRAWS = 8  # augmentations tried before the sample is used as it is

    def __getitem__(self, i: int) -> dict:
        from .masks import tight_box
        from .windows import to_sample

        rng = self.rng(i)
        s = self.data[i]
        # large-scale jitter may shrink every object below MIN_PIXELS, or the target alone: the
        # augmentation is drawn again, and at last the sample is used unaugmented
        for draw in range(self.DRAWS + 1):
            t = s
            if self.augment and draw < self.DRAWS:
                from .augment import Sample, augment

                a = augment(Sample(s["image"], s["masks"], s["boxes"], s["classes"]), 2 * self.variant.window, rng)
                t = {**s, "image": a.image, "masks": a.masks, "boxes": a.boxes, "classes": a.classes}
            window = self._window(t, rng)
            if window is not None:
                break
        else:
            raise ValueError(f"{self.data.root}: {s['name']}: no object has {self.MIN_PIXELS} pixels in its window")
        w, visible = window
        inside = w.masks_in(t["masks"][visible], w.size)
        boxes = np.stack([tight_box(m) for m in inside]) + [w.x0, w.y0, w.x0, w.y0]
        size = self.variant.img_size
        img, masks, boxes = w.cut(t["image"], size), w.masks_in(t["masks"][visible], size), w.boxes_in(boxes, size)
        return to_sample(img, masks, boxes, t["classes"][visible], s["name"])

    def _window(self, s: dict, rng: np.random.Generator):
        """A target drawn among the objects large enough, the predictor's window for its box
        (``rossam.windows.object_window``) moved at random, and the objects seen in it, target
        first; None where no object is large enough or the moved window lost the target."""
        from rossam.windows import Window, object_window

        if not len(s["masks"]):  # the crop left no object
            return None
        big = np.flatnonzero(s["masks"].reshape(len(s["masks"]), -1).sum(axis=1) >= self.MIN_PIXELS)
        if not len(big):
            return None
        k = int(big[rng.integers(len(big))])
        w = object_window(s["boxes"][k], self.variant.window)
        jitter = np.round(rng.uniform(-0.15, 0.15, 2) * w.size).astype(int)
        w = Window(w.x0 + int(jitter[0]), w.y0 + int(jitter[1]), w.size)
        seen = w.masks_in(s["masks"], w.size).reshape(len(s["masks"]), -1).sum(axis=1) >= self.MIN_PIXELS
        if not seen[k]:
            return None
        others = [j for j in np.flatnonzero(seen) if j != k]
        return w, [k] + others[: self.max_objects - 1]


class LayoutImages(EpochSamples):
    """The reference recipe's samples from a layout split: each whole image through the
    reference augmentation (large-scale jitter to the encoder's size, bilinear; the flip along
    both axes one time in ten; photometric distortion; padded with 144), every object in it
    prompted with its exact box. An augmentation that leaves no object is drawn again (the
    reference code multiplies such a sample's loss by zero and still steps Adam)."""

    DRAWS = 8

    def __init__(self, root, variant, exclude_classes=(), seed: int = 0):
        self.data = RosSamDataset(root, exclude_classes)
        self.size = variant.img_size
        self.seed = seed

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict:
        from .augment import Sample, augment_reference, large_scale_jitter
        from .windows import to_sample

        rng = self.rng(i)
        s = self.data[i]
        sample = Sample(s["image"], s["masks"], s["boxes"], s["classes"])
        for _ in range(self.DRAWS):
            a = augment_reference(sample, self.size, rng)
            if len(a.boxes):
                break
        else:  # the whole image at the encoder's size: every object stays
            a = large_scale_jitter(sample, self.size, rng, ratio=(1.0, 1.0), bilinear=True)
        return to_sample(a.image, a.masks, a.boxes, a.classes, s["name"])

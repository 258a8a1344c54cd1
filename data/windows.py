"""Training samples as ROS-SAM sees them: a window zoomed to the encoder's size, with every
object in it as a box prompt and its mask."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .synthetic.patches import sample_patch
from .synthetic.shapes import CLASSES


class EpochSamples(Dataset):
    """Item i of epoch e is drawn from the random stream (seed, e, i): the same in every run
    with the seed, so a resumed training sees the same data. Subclasses set ``seed``."""

    seed = 0
    epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def rng(self, i: int, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, i, *stream])


def zoom(image: np.ndarray, masks: np.ndarray, boxes: np.ndarray, size: int):
    """Zoom a square window to ``size`` px through the predictor's own crop geometry
    (``rossam.windows.Window``): image, masks and boxes land on the same pixels."""
    from rossam.windows import Window

    win = Window(0, 0, image.shape[0])
    return win.cut(image, size), win.masks_in(masks, size), win.boxes_in(boxes, size).astype(np.float32)


def to_sample(image, masks, boxes, classes, name: str) -> dict:
    return {
        "image": torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1),
        "masks": torch.from_numpy(np.ascontiguousarray(masks)).to(torch.uint8),
        "boxes": torch.from_numpy(np.asarray(boxes, np.float32)),
        "classes": torch.as_tensor(np.asarray(classes), dtype=torch.long),
        "name": name,
    }


def crop_around(rng: np.random.Generator, image: np.ndarray, masks: np.ndarray, classes: np.ndarray, size: int,
                margin: float = 1 / 8):
    """A ``size`` px crop holding object 0 (the target) inside its margins (``margin`` x size),
    placed at random as a shared window would place it; the objects with pixels in the crop,
    target first: (image, masks, boxes, classes)."""
    from .masks import tight_box

    s = image.shape[0]
    box = tight_box(masks[0])
    origin = []
    for lo, hi in ((box[0], box[2]), (box[1], box[3])):
        room = max(size * (1 - 2 * margin) - (hi - lo), 0.0)
        centre = (lo + hi) / 2 + rng.uniform(-room / 2, room / 2)
        origin.append(int(np.clip(round(centre - size / 2), 0, max(s - size, 0))))
    x0, y0 = origin
    image = image[y0 : y0 + size, x0 : x0 + size]
    masks = masks[:, y0 : y0 + size, x0 : x0 + size]
    keep = masks.reshape(len(masks), -1).any(axis=1)
    keep[0] = True
    masks, classes = masks[keep], classes[keep]
    boxes = np.array([tight_box(m) for m in masks], np.float64).reshape(-1, 4)
    return image, masks, boxes, classes


class SyntheticWindows(EpochSamples):
    """``length`` procedural windows per epoch; item i of epoch e is the same for every run
    with the same seed (so resumed training sees the same data).

    ``crop_sizes``: a function from [N, 4] boxes to window sizes (the predictor's adaptive
    zoom, ``rossam.windows.window_sizes``); a ``crop_fraction`` of the windows are then cut down
    to the size it picks for the target, as the predictor would crop it, before the zoom."""

    def __init__(self, length: int, window: int = 128, img_size: int = 256, seed: int = 0,
                 classes=CLASSES, weights: dict | None = None, max_objects: int = 4, crop_sizes=None,
                 crop_fraction: float = 0.0):
        self.length = length
        self.window = window
        self.img_size = img_size
        self.seed = seed
        self.classes = tuple(classes)
        self.weights = weights
        self.max_objects = max_objects  # prompts per window: the target and its nearest neighbours
        self.crop_sizes = crop_sizes
        self.crop_fraction = crop_fraction if crop_sizes is not None else 0.0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        rng = self.rng(i)
        p = sample_patch(rng, self.window, self.classes, self.weights)
        image, masks, boxes, classes = p.image, p.masks, p.boxes, p.classes
        if self.crop_fraction and rng.random() < self.crop_fraction:
            size = int(self.crop_sizes(boxes[:1])[0])
            if size < self.window:
                image, masks, boxes, classes = crop_around(rng, image, masks, classes, size)
        keep = np.arange(min(len(boxes), self.max_objects))  # the target is object 0
        image, masks, boxes = zoom(image, masks[keep], boxes[keep], self.img_size)
        return to_sample(image, masks, boxes, classes[keep], f"synthetic-{self.seed}-{self.epoch}-{i}")


class SyntheticImages(EpochSamples):
    """The reference recipe's samples on generated data: a whole generated frame of
    ``img_size`` px through the reference augmentation (``data.augment.augment_reference``),
    every object in it prompted. Item i of epoch e is the same in every run with the seed."""

    def __init__(self, length: int, img_size: int = 256, seed: int = 0, classes=CLASSES, weights: dict | None = None):
        self.length, self.img_size, self.seed = length, img_size, seed
        self.classes, self.weights = tuple(classes), weights

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        from .augment import Sample, augment_reference

        rng = self.rng(i, 1)
        while True:  # a jitter that crops every object away is drawn again
            p = sample_patch(rng, self.img_size, self.classes, self.weights)
            a = augment_reference(Sample(p.image, p.masks, p.boxes, p.classes), self.img_size, rng)
            if len(a.boxes):
                return to_sample(a.image, a.masks, a.boxes, a.classes, f"synthetic-image-{self.seed}-{self.epoch}-{i}")


def collate_windows(batch: list[dict]) -> dict:
    """Stack windows; concatenate objects with the index of their window."""
    return {
        "images": torch.stack([b["image"] for b in batch]),
        "boxes": torch.cat([b["boxes"] for b in batch]),
        "masks": torch.cat([b["masks"] for b in batch]),
        "classes": torch.cat([b["classes"] for b in batch]),
        "window_index": torch.cat([torch.full((len(b["boxes"]),), k, dtype=torch.long) for k, b in enumerate(batch)]),
        "names": [b["name"] for b in batch],
    }

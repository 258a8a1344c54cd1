"""Training samples as ROS-SAM sees them: a window zoomed to the encoder's size, with every
object in it as a box prompt and its mask."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .synthetic.patches import sample_patch
from .synthetic.shapes import CLASSES


def zoom(image: np.ndarray, masks: np.ndarray, boxes: np.ndarray, size: int):
    """Zoom a square window to ``size`` px: image bicubic (as the predictor), masks nearest."""
    s = image.shape[0]
    if s == size:
        return image, masks, boxes.astype(np.float32)
    f = size / s
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
    masks = np.stack([cv2.resize(m.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) for m in masks]) > 0
    return image, masks, (boxes * f).astype(np.float32)


def to_sample(image, masks, boxes, classes, name: str) -> dict:
    return {
        "image": torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1),
        "masks": torch.from_numpy(np.ascontiguousarray(masks)).to(torch.uint8),
        "boxes": torch.from_numpy(np.asarray(boxes, np.float32)),
        "classes": torch.as_tensor(np.asarray(classes), dtype=torch.long),
        "name": name,
    }


class SyntheticWindows(Dataset):
    """``length`` procedural windows per epoch; item i of epoch e is the same for every run
    with the same seed (so resumed training sees the same data)."""

    def __init__(self, length: int, window: int = 128, img_size: int = 256, seed: int = 0,
                 classes=CLASSES, weights: dict | None = None, max_objects: int = 4):
        self.length = length
        self.window = window
        self.img_size = img_size
        self.seed = seed
        self.classes = tuple(classes)
        self.weights = weights
        self.max_objects = max_objects  # prompts per window: the target and its nearest neighbours
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        p = sample_patch(rng, self.window, self.classes, self.weights)
        keep = np.arange(min(len(p.boxes), self.max_objects))  # the target is object 0
        image, masks, boxes = zoom(p.image, p.masks[keep], p.boxes[keep], self.img_size)
        return to_sample(image, masks, boxes, p.classes[keep], f"synthetic-{self.seed}-{self.epoch}-{i}")


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

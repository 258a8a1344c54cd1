"""Joint augmentations of an image, its boxes and its masks (ROS-SAM's training recipe).

Large-scale jitter (resize by a random ratio of the target size, crop to the target, pad with
144), diagonal flip, photometric distortion. Boxes are always recomputed as the tight boxes of
the transformed masks, and objects a crop empties are dropped, so a box always equals its mask's.
Images are RGB uint8 [H, W, 3], masks bool [N, H, W], boxes float [N, 4] xyxy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .masks import tight_box

PAD_VALUE = 144


@dataclass
class Sample:
    image: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray

    def __post_init__(self):
        self.masks = np.asarray(self.masks, bool).reshape(-1, *self.image.shape[:2])
        self.classes = np.asarray(self.classes).reshape(len(self.masks))


def _refresh(image, masks, classes) -> Sample:
    keep = masks.reshape(len(masks), -1).any(axis=1) if len(masks) else np.zeros(0, bool)
    masks, classes = masks[keep], classes[keep]
    boxes = np.stack([tight_box(m) for m in masks]) if len(masks) else np.zeros((0, 4))
    return Sample(image, masks, boxes.astype(np.float32), classes)


def large_scale_jitter(s: Sample, target: int, rng: np.random.Generator, ratio=(0.1, 4.0),
                       bilinear: bool = False) -> Sample:
    """Resize the longer side to ``target x U(ratio)``, crop a random ``target`` square, pad with
    144 (bottom and right). Shrinking averages the pixels it merges (area) unless ``bilinear``
    (the reference code's mmcv resize)."""
    h, w = s.image.shape[:2]
    scale = target * rng.uniform(*ratio) / max(h, w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    interp = cv2.INTER_AREA if scale < 1 and not bilinear else cv2.INTER_LINEAR
    image = cv2.resize(s.image, (nw, nh), interpolation=interp)
    masks = np.stack([cv2.resize(m.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST) for m in s.masks]) > 0 \
        if len(s.masks) else np.zeros((0, nh, nw), bool)
    y0 = int(rng.integers(0, max(nh - target, 0) + 1))
    x0 = int(rng.integers(0, max(nw - target, 0) + 1))
    image = image[y0 : y0 + target, x0 : x0 + target]
    masks = masks[:, y0 : y0 + target, x0 : x0 + target]
    out = np.full((target, target, 3), PAD_VALUE, np.uint8)
    out[: image.shape[0], : image.shape[1]] = image
    full = np.zeros((len(masks), target, target), bool)
    full[:, : masks.shape[1], : masks.shape[2]] = masks
    return _refresh(out, full, s.classes)


def diagonal_flip(s: Sample) -> Sample:
    """Transpose rows and columns (the flip along the main diagonal)."""
    return _refresh(np.ascontiguousarray(s.image.transpose(1, 0, 2)), np.ascontiguousarray(s.masks.transpose(0, 2, 1)),
                    s.classes)


def rotate_180(s: Sample) -> Sample:
    """A flip along both axes: what mmcv calls the "diagonal" flip (the reference code's)."""
    return _refresh(np.ascontiguousarray(s.image[::-1, ::-1]), np.ascontiguousarray(s.masks[:, ::-1, ::-1]), s.classes)


def horizontal_flip(s: Sample) -> Sample:
    return _refresh(np.ascontiguousarray(s.image[:, ::-1]), np.ascontiguousarray(s.masks[:, :, ::-1]), s.classes)


def photometric(s: Sample, rng: np.random.Generator, brightness=32, contrast=(0.5, 1.5), saturation=(0.5, 1.5),
                hue=18, reference: bool = False) -> Sample:
    """mmdet's PhotoMetricDistortion: brightness, contrast, saturation and hue, each half the
    time. ``reference``: as the reference code runs it, contrast before or after the HSV step
    at random, then a random swap of the channels half the time."""
    img = s.image.astype(np.float32)
    if rng.random() < 0.5:
        img += rng.uniform(-brightness, brightness)
    contrast_first = rng.random() < 0.5 if reference else True
    if contrast_first and rng.random() < 0.5:
        img *= rng.uniform(*contrast)
    hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    if rng.random() < 0.5:
        hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(*saturation), 0, 255)
    if rng.random() < 0.5:
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-hue, hue) / 2) % 180
    img = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    if not contrast_first and rng.random() < 0.5:
        img = np.clip(img.astype(np.float32) * rng.uniform(*contrast), 0, 255).astype(np.uint8)
    if reference and rng.random() < 0.5:
        img = np.ascontiguousarray(img[..., rng.permutation(3)])
    return Sample(img, s.masks, s.boxes, s.classes)


def augment(s: Sample, target: int, rng: np.random.Generator) -> Sample:
    """The training chain: jitter, random diagonal and horizontal flips, photometric distortion."""
    s = large_scale_jitter(s, target, rng)
    if rng.random() < 0.5:
        s = diagonal_flip(s)
    if rng.random() < 0.5:
        s = horizontal_flip(s)
    return photometric(s, rng)


def augment_reference(s: Sample, target: int, rng: np.random.Generator) -> Sample:
    """The reference code's chain on a whole image: jitter (bilinear), the "diagonal" flip (both
    axes) one time in ten, photometric distortion with its random contrast order and channel
    swap; padded to ``target`` with 144 at the bottom and right."""
    s = large_scale_jitter(s, target, rng, bilinear=True)
    if rng.random() < 0.1:
        s = rotate_180(s)
    return photometric(s, rng, reference=True)

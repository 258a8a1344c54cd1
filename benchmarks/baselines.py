"""Baselines that stand in for ROS-SAM inside the pipeline, to show what the model adds.

Each has ``BoxPredictor``'s contract: ``predict(image, boxes) -> Prediction`` (masks as crops
with offsets, a score per box) and an ``encoder_passes`` counter. ``Pipeline(cfg,
segmenter=...)`` takes any of them; ``python -m benchmarks.evaluate --segmenter NAME`` picks one.

- ``GrabCutSegmenter``: ``cv2.grabCut`` started from each prompt box.
- ``BoxOnlySegmenter``: no segmentation. Each prompt is "measured" by the moving-object blob
  (``trackers.MotionDiscovery``) that best overlaps it, and the pipeline reports the Kalman
  filter's box of every measured track (its prediction corrected by the blob) as the output, and
  the filled box as its mask. This is a SORT-like tracker on motion blobs: the difference to the
  ROS-SAM runs is what the mask feedback adds.
"""

from __future__ import annotations

import cv2
import numpy as np

from data.masks import filled_crop, tight_box
from rossam.predictor import Prediction
from trackers import DiscoveryConfig, MotionDiscovery
from trackers.matching import assign, iou_matrix


def grabcut(image: np.ndarray, box, iterations: int = 5, margin: int = 16) -> np.ndarray:
    """GrabCut started from the box, run on a crop around it (as an interactive tool would).
    Returns a full-frame boolean mask."""
    mask, (x0, y0) = grabcut_crop(image, box, iterations, margin)
    out = np.zeros(image.shape[:2], bool)
    out[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]] = mask
    return out


def grabcut_crop(image: np.ndarray, box, iterations: int = 5, margin: int = 16) -> tuple[np.ndarray, tuple[int, int]]:
    """GrabCut on a crop ``margin`` px around the box: (boolean crop, its top-left x y)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    cx1, cy1, cx2, cy2 = max(x1 - margin, 0), max(y1 - margin, 0), min(x2 + margin, w), min(y2 + margin, h)
    crop = np.ascontiguousarray(image[cy1:cy2, cx1:cx2, ::-1])
    mask = np.zeros(crop.shape[:2], np.uint8)
    rect = (x1 - cx1, y1 - cy1, max(1, x2 - x1), max(1, y2 - y1))
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(crop, mask, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
        out = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    except cv2.error:  # degenerate (e.g. a box of one pixel): fall back to the box
        out = np.zeros(crop.shape[:2], bool)
        out[rect[1] : rect[1] + rect[3], rect[0] : rect[0] + rect[2]] = True
    return out, (cx1, cy1)


def box_fill(shape, box) -> np.ndarray:
    out = np.zeros(shape, bool)
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    out[y1:y2, x1:x2] = True
    return out


def _prediction(masks: list[np.ndarray], offsets: list, scores: list, size: tuple[int, int]) -> Prediction:
    offsets = np.array(offsets, np.int64).reshape(-1, 2)
    boxes = np.array([tight_box(m, o) for m, o in zip(masks, offsets)], np.float64).reshape(-1, 4)
    return Prediction(masks, offsets, np.asarray(scores, np.float64).reshape(-1), boxes, size)


class GrabCutSegmenter:
    """GrabCut from each prompt box; its score is 1 (it has no quality estimate)."""

    name = "grabcut"
    box_only = False

    def __init__(self, iterations: int = 5, margin: int = 16):
        self.iterations, self.margin = iterations, margin
        self.encoder_passes = 0

    def predict(self, image: np.ndarray, boxes) -> Prediction:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        masks, offsets = [], []
        for b in boxes:
            m, o = grabcut_crop(image, b, self.iterations, self.margin)
            masks.append(m)
            offsets.append(o)
        return _prediction(masks, offsets, [1.0] * len(boxes), image.shape[:2])


class BoxOnlySegmenter:
    """Measures each prompt by the motion blob that overlaps it most (Hungarian on IoU); a
    prompt with no blob gets an empty mask, so its track coasts. ``box_only`` tells the pipeline
    to report Kalman predictions instead of mask boxes."""

    name = "box"
    box_only = True

    def __init__(self, discovery: DiscoveryConfig | None = None, min_iou: float = 0.05):
        self.discovery = MotionDiscovery(discovery)
        self.min_iou = min_iou
        self.encoder_passes = 0

    def predict(self, image: np.ndarray, boxes) -> Prediction:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        blobs = self.discovery(image)  # every frame, so that its history stays complete
        masks = [np.zeros((1, 1), bool) for _ in boxes]
        offsets = [(0, 0)] * len(boxes)
        if len(boxes) and len(blobs):
            matches, _, _ = assign(1.0 - iou_matrix(boxes, blobs), 1.0 - self.min_iou)
            for r, c in matches:
                masks[r], offsets[r] = filled_crop(blobs[c])
        return _prediction(masks, offsets, [1.0] * len(boxes), image.shape[:2])


class BoxFillSegmenter:
    """Each prompt box filled: the floor a segmenter must beat (score 1)."""

    name = "box-fill"
    box_only = False

    def __init__(self):
        self.encoder_passes = 0

    def predict(self, image: np.ndarray, boxes) -> Prediction:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        crops = [filled_crop(b) for b in boxes]
        return _prediction([m for m, _ in crops], [o for _, o in crops], [1.0] * len(boxes), image.shape[:2])


SEGMENTERS = {"grabcut": GrabCutSegmenter, "box": BoxOnlySegmenter}

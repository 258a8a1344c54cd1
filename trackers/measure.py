"""Turning a mask into a box measurement, and the quality gate that rejects bad masks."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class GateConfig:
    min_iou: float = 0.25  # the segmenter's predicted IoU must reach this (tau)
    min_area_ratio: float = 0.33  # measured box area / predicted box area within [a, b]; wider
    max_area_ratio: float = 3.0  # bounds let an over-segmented mask grow the track frame by frame
    leak_margin: float = 1.0  # a mask touching every edge of a widened prompt (within px) leaked
    # Objects seen from orbit keep their size: the area stays within these ratios of the track's
    # first (given or measured) area, so an over-segmented mask cannot grow a track frame by frame.
    min_size_ratio: float = 0.4
    max_size_ratio: float = 2.5
    # ... and its pixels: where a user's box of the whole object prompted a first accepted mask
    # of pixel_min px or more, a later mask of more than pixel_ratio x or less than 1 / pixel_ratio
    # x as many pixels is rejected (a thin diagonal train's mask that takes the field around it,
    # inside the box: its box keeps the size, its pixels do not; 0: off). Small objects' masks
    # change by more than that from frame to frame, and a discovered track's first mask may hold
    # a part of its object. Confident masks that agree on other pixels for
    # ``TrackerConfig.resize_frames`` frames in a row become the reference (a first mask of a part).
    pixel_ratio: float = 2.0
    pixel_min: float = 500.0


def measurement_box(mask: np.ndarray, offset, prompt: np.ndarray) -> np.ndarray | None:
    """Tight xyxy box of the mask components that overlap the prompt box (None if none do)."""
    mask = np.asarray(mask, np.uint8)
    if not mask.any():
        return None
    ox, oy = int(offset[0]), int(offset[1])
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    px1, py1, px2, py2 = prompt
    keep = []
    for k in range(1, n):
        x, y, w, h, _ = stats[k]
        x1, y1, x2, y2 = x + ox, y + oy, x + w + ox, y + h + oy
        if x1 < px2 and px1 < x2 and y1 < py2 and py1 < y2:
            keep.append((x1, y1, x2, y2))
    if not keep:
        return None
    k = np.array(keep, np.float64)
    return np.array([k[:, 0].min(), k[:, 1].min(), k[:, 2].max(), k[:, 3].max()])


def gate(box: np.ndarray | None, score: float, predicted: np.ndarray, prompt: np.ndarray, widened: bool,
         cfg: GateConfig, ref_area: float = float("nan"), growing: bool = False,
         pixels: float = float("nan"), ref_pixels: float = float("nan")) -> str | None:
    """None if the measurement is good, else the reason it is rejected. growing: the object is
    coming in at the frame's edge, and a mask larger than its track is not rejected for that.
    pixels: the mask's pixel count, checked against ``ref_pixels`` (NaN: no reference)."""
    if box is None:
        return "empty"
    if score < cfg.min_iou:
        return "low predicted IoU"
    if widened and np.all(np.abs(box - prompt) <= cfg.leak_margin):
        return "leaked to the prompt's edges"
    area = (box[2] - box[0]) * (box[3] - box[1])
    pred_area = max((predicted[2] - predicted[0]) * (predicted[3] - predicted[1]), 1.0)
    if not cfg.min_area_ratio <= area / pred_area <= (np.inf if growing else cfg.max_area_ratio):
        return "area out of range"
    if np.isfinite(ref_area) and not cfg.min_size_ratio <= area / max(ref_area, 1.0) <= (np.inf if growing else cfg.max_size_ratio):
        return "size changed"
    if (cfg.pixel_ratio > 0 and not growing and ref_pixels >= cfg.pixel_min
            and not 1 / cfg.pixel_ratio <= pixels / ref_pixels <= cfg.pixel_ratio):
        return "pixels changed"
    return None

"""Mask IoU and boundary IoU (Cheng et al., "Boundary IoU", CVPR 2021), as ROS-SAM reports them."""

from __future__ import annotations

import cv2
import numpy as np


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two boolean masks; two empty masks score 1."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} and {gt.shape}")
    union = np.logical_or(pred, gt).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, gt).sum() / union)


def boundary_band(mask: np.ndarray, dilation_ratio: float = 0.02) -> np.ndarray:
    """Pixels of the mask within d of its contour, d = ratio x image diagonal (at least 1 px).

    As in the reference implementation, the mask is padded by one pixel so the image border
    counts as background, then eroded with a 3 x 3 kernel d times.
    """
    mask = np.asarray(mask, np.uint8)
    h, w = mask.shape
    d = max(1, int(round(dilation_ratio * np.sqrt(h * h + w * w))))
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1:-1, 1:-1]
    return (mask - eroded).astype(bool)


def boundary_iou(pred: np.ndarray, gt: np.ndarray, dilation_ratio: float = 0.02) -> float:
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} and {gt.shape}")
    return mask_iou(boundary_band(pred, dilation_ratio), boundary_band(gt, dilation_ratio))


def object_boundary_iou(pred: np.ndarray, gt: np.ndarray, dilation_ratio: float = 0.02, context: float = 0.5) -> float:
    """Boundary IoU of one object's masks, on a crop around them: the box holding both, grown
    on each side by ``context`` x its size (2 px at least). The band is then ``dilation_ratio``
    of the crop's diagonal, so it scales with the object; on a whole frame it would be wider
    than most satellite objects, and boundary IoU would equal mask IoU."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} and {gt.shape}")
    both = pred | gt
    if not both.any():
        return 1.0
    ys, xs = np.nonzero(both)
    h, w = both.shape
    gx = max(2, int(np.ceil(context * (xs.max() - xs.min() + 1))))
    gy = max(2, int(np.ceil(context * (ys.max() - ys.min() + 1))))
    x1, x2 = max(xs.min() - gx, 0), min(xs.max() + 1 + gx, w)
    y1, y2 = max(ys.min() - gy, 0), min(ys.max() + 1 + gy, h)
    return boundary_iou(pred[y1:y2, x1:x2], gt[y1:y2, x1:x2], dilation_ratio)


def image_iou(preds, gts) -> float:
    """ROS-SAM's image-level IoU: the union of an image's predicted masks against the union of its true ones."""
    preds, gts = np.asarray(preds, bool), np.asarray(gts, bool)
    return mask_iou(preds.any(axis=0), gts.any(axis=0))


def image_boundary_iou(preds, gts, dilation_ratio: float = 0.02) -> float:
    preds, gts = np.asarray(preds, bool), np.asarray(gts, bool)
    return boundary_iou(preds.any(axis=0), gts.any(axis=0), dilation_ratio)

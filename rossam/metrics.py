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


def image_iou(preds, gts) -> float:
    """ROS-SAM's image-level IoU: the union of an image's predicted masks against the union of its true ones."""
    preds, gts = np.asarray(preds, bool), np.asarray(gts, bool)
    return mask_iou(preds.any(axis=0), gts.any(axis=0))


def image_boundary_iou(preds, gts, dilation_ratio: float = 0.02) -> float:
    preds, gts = np.asarray(preds, bool), np.asarray(gts, bool)
    return boundary_iou(preds.any(axis=0), gts.any(axis=0), dilation_ratio)

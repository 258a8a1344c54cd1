"""Small mask utilities shared by every package."""

from __future__ import annotations

import numpy as np


def filled_crop(box) -> tuple[np.ndarray, np.ndarray]:
    """A box as a filled boolean crop (at least 1 x 1) and its top-left pixel (x, y)."""
    x1, y1 = np.floor(np.asarray(box[:2], np.float64)).astype(np.int64)
    x2, y2 = np.ceil(np.asarray(box[2:], np.float64)).astype(np.int64)
    return np.ones((max(y2 - y1, 1), max(x2 - x1, 1)), bool), np.array([x1, y1])


def tight_box(mask: np.ndarray, offset=(0, 0)) -> np.ndarray:
    """xyxy box of a boolean mask's pixels (NaN if empty); x2, y2 are exclusive edges."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return np.full(4, np.nan)
    cols = np.flatnonzero(mask.any(axis=0))
    x, y = offset
    return np.array([x + cols[0], y + rows[0], x + cols[-1] + 1, y + rows[-1] + 1], dtype=np.float64)

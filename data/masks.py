"""Small mask utilities shared by every package."""

from __future__ import annotations

import numpy as np


def tight_box(mask: np.ndarray, offset=(0, 0)) -> np.ndarray:
    """xyxy box of a boolean mask's pixels (NaN if empty); x2, y2 are exclusive edges."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return np.full(4, np.nan)
    cols = np.flatnonzero(mask.any(axis=0))
    x, y = offset
    return np.array([x + cols[0], y + rows[0], x + cols[-1] + 1, y + rows[-1] + 1], dtype=np.float64)

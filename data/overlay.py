"""Drawing masks, boxes and ids on frames for a person to look at."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np


def colour_for(i: int) -> tuple[int, int, int]:
    """A stable, distinct RGB colour per id (golden-ratio hues)."""
    h = (int(i) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw(image: np.ndarray, masks, offsets=None, boxes=None, labels=None, alpha: float = 0.45) -> np.ndarray:
    """RGB uint8 frame with coloured masks (full-frame, or crops at ``offsets``), boxes and labels.

    labels: one int id per object (sets its colour and text); defaults to its index.
    """
    out = image.copy()
    n = len(masks) if masks is not None else (0 if boxes is None else len(boxes))
    labels = list(range(n)) if labels is None else list(labels)
    for k in range(n):
        c = np.array(colour_for(labels[k]), np.float32)
        if masks is not None:
            m = np.asarray(masks[k], bool)
            x, y = (0, 0) if offsets is None else (int(offsets[k][0]), int(offsets[k][1]))
            region = out[y : y + m.shape[0], x : x + m.shape[1]]
            m = m[: region.shape[0], : region.shape[1]]
            region[m] = (region[m] * (1 - alpha) + c * alpha).astype(np.uint8)
            cnts, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(out, [cc + [x, y] for cc in cnts], -1, tuple(int(v) for v in c), 1)
        if boxes is not None and np.all(np.isfinite(boxes[k])):
            x1, y1, x2, y2 = (int(round(v)) for v in boxes[k])
            cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), tuple(int(v) for v in c), 1)
            cv2.putText(out, str(labels[k]), (x1, max(y1 - 3, 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        tuple(int(v) for v in c), 1, cv2.LINE_AA)
    return out

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


def clip_to_box(mask: np.ndarray, offset, box: np.ndarray, tolerance: float = 1.0) -> np.ndarray:
    """The mask with pixels outside ``box`` (grown by ``tolerance`` px) removed: a box prompt
    says the object is inside it, and spill outside is a known failure of box-prompted SAM."""
    ox, oy = int(offset[0]), int(offset[1])
    h, w = mask.shape
    x1 = int(np.clip(np.floor(box[0] - tolerance) - ox, 0, w))
    y1 = int(np.clip(np.floor(box[1] - tolerance) - oy, 0, h))
    x2 = int(np.clip(np.ceil(box[2] + tolerance) - ox, 0, w))
    y2 = int(np.clip(np.ceil(box[3] + tolerance) - oy, 0, h))
    out = np.zeros_like(mask, dtype=bool)
    out[y1:y2, x1:x2] = mask[y1:y2, x1:x2]
    return out


KEEP = ("all", "centre", "largest")


def check_keep(keep: str) -> str:
    """``keep`` if it names a clean-up of ``clean_mask``, else a ValueError listing them."""
    if keep not in KEEP:
        raise ValueError(f"keep must be one of {', '.join(KEEP)}; got {keep!r}")
    return keep


def clean_mask(mask: np.ndarray, box, keep: str = "all", fill_holes: bool = False, gap: float = 0.03) -> np.ndarray:
    """The part of a box-prompted mask that is the prompted object.

    mask: boolean; box: the prompt's xyxy in the mask's pixels. keep: ``all`` (the mask as it
    is), ``largest`` (its largest 8-connected part), or ``centre`` (the parts that reach the
    middle third of the box, with the parts within ``gap`` x the box's longer side of them: an
    airplane's wing cut from its body by a seam stays, pieces of shadow, markings or a neighbour
    farther off go; the largest part where none reaches the middle). fill_holes: seams narrower
    than that gap are closed and background enclosed by the mask becomes object (a dark
    windscreen inside a car's outline).
    """
    import cv2

    check_keep(keep)
    mask = np.asarray(mask, bool)
    x1, y1, x2, y2 = (float(v) for v in box)
    r = int(gap * max(x2 - x1, y2 - y1))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    out = mask
    if keep != "all" and mask.any():
        grouped = cv2.dilate(mask.astype(np.uint8), kernel) if r and keep == "centre" else mask.astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
        if n > 2:
            sizes = np.bincount(labels[mask], minlength=n)
            chosen = np.array([np.argmax(sizes[1:]) + 1])
            if keep == "centre":
                h, w = mask.shape
                cx1, cx2 = (int(np.clip(v, 0, w)) for v in (np.floor(x1 + (x2 - x1) / 3), np.ceil(x2 - (x2 - x1) / 3)))
                cy1, cy2 = (int(np.clip(v, 0, h)) for v in (np.floor(y1 + (y2 - y1) / 3), np.ceil(y2 - (y2 - y1) / 3)))
                central = np.unique(labels[cy1:cy2, cx1:cx2][mask[cy1:cy2, cx1:cx2]])
                if len(central):
                    chosen = central
            out = mask & np.isin(labels, chosen)
    if fill_holes and out.any():
        if r:
            pad = r + 1
            closed = cv2.morphologyEx(np.pad(out, pad).astype(np.uint8), cv2.MORPH_CLOSE, kernel)
            out = out | (closed[pad:-pad, pad:-pad] > 0)
        # background not connected to the crop's border is enclosed by the object
        pad = np.pad(~out, 1, constant_values=True).astype(np.uint8)
        n, labels = cv2.connectedComponents(pad, connectivity=4)
        outside = labels == labels[0, 0]
        out = out | ~outside[1:-1, 1:-1]
    return out


def rectangle_if_compact(mask: np.ndarray, box, min_solidity: float = 0.6) -> np.ndarray:
    """A compact mask's minimum-area rectangle, inside ``box`` (xyxy in the mask's pixels).

    Vehicles and boats seen from above are rectangles, and a box-prompted mask of one often
    holds its bright parts (roof, windscreen, deck) and leaves its dark ones: where the mask
    fills at least ``min_solidity`` of its convex hull, its minimum-area rectangle is the
    object. An airplane's wings and tail keep its mask under that (0.54 at most on the
    airplanes measured), so it keeps its shape; so does an empty or one-pixel mask.
    """
    import cv2

    mask = np.asarray(mask, bool)
    if mask.sum() < 2:
        return mask
    points = cv2.findNonZero(mask.astype(np.uint8))
    hull = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(hull, [cv2.convexHull(points)], 1)
    if mask.sum() < min_solidity * hull.sum():
        return mask
    rect = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(rect, [np.round(cv2.boxPoints(cv2.minAreaRect(points))).astype(np.int32)], 1)
    return clip_to_box(rect.astype(bool), (0, 0), box, tolerance=0.0)

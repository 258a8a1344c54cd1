"""Crop windows: ROS-SAM's object-centred crop, shared by objects that fit together.

``Window`` is the one crop geometry of the project: the predictor and both training datasets
cut images, map boxes and masks in, and paste masks back through its methods, so that what the
model sees in training is what it sees in use. Pixel ``i`` covers ``[i, i + 1)``; a window of
``size`` px zoomed to ``out`` px scales coordinates by ``out / size`` about its top-left corner;
images, masks and logits are all resampled about pixel centres (OpenCV's and PyTorch's
``align_corners=False``), so a mask and its box stay on the same pixels at every zoom.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# SAM's pixel mean (123.675, 116.28, 103.53) rounded: outside the frame a window holds this,
# which normalises to zero, in training and in use alike
FILL = (124, 116, 104)


@dataclass(frozen=True)
class Window:
    """A square crop ``[x0, x0 + size) x [y0, y0 + size)`` in frame pixels (may leave the frame)."""

    x0: int
    y0: int
    size: int

    def cut(self, image: np.ndarray, out: int, fill=FILL) -> np.ndarray:
        """The window's pixels zoomed to ``out`` x ``out`` (bicubic); outside the frame ``fill``."""
        crop = crop_window(image, self, fill)
        if out != self.size:
            crop = cv2.resize(crop, (out, out), interpolation=cv2.INTER_CUBIC)
        return crop

    def boxes_in(self, boxes: np.ndarray, out: int) -> np.ndarray:
        """[N, 4] xyxy frame boxes in the zoomed window's pixels."""
        origin = np.array([self.x0, self.y0, self.x0, self.y0], np.float64)
        return (np.asarray(boxes, np.float64).reshape(-1, 4) - origin) * (out / self.size)

    def masks_in(self, masks: np.ndarray, out: int) -> np.ndarray:
        """[N, H, W] boolean frame masks as [N, out, out] in the zoomed window (False outside
        the frame): resampled as coverage and kept where at least half covered, so the edges
        stay where the box mapping puts them (nearest-neighbour would shift them by up to a
        source pixel at zooms that are not whole numbers)."""
        masks = np.asarray(masks, bool)
        n, h, w = masks.shape
        crop = np.zeros((n, self.size, self.size), np.float32)
        x0, y0 = max(self.x0, 0), max(self.y0, 0)
        x1, y1 = min(self.x0 + self.size, w), min(self.y0 + self.size, h)
        if x1 > x0 and y1 > y0:
            crop[:, y0 - self.y0 : y1 - self.y0, x0 - self.x0 : x1 - self.x0] = masks[:, y0:y1, x0:x1]
        if out == self.size:
            return crop > 0.5
        interp = cv2.INTER_LINEAR if out > self.size else cv2.INTER_AREA
        return np.stack([cv2.resize(m, (out, out), interpolation=interp) for m in crop]).reshape(n, out, out) >= 0.5

    def paste(self, logits, frame_size: tuple[int, int], threshold: float = 0.0) -> tuple[np.ndarray, tuple[int, int]]:
        """Mask logits [h, w] (a torch tensor) of the zoomed window back in the frame: the
        boolean mask over the window's part inside the frame, and its top-left pixel (x, y)."""
        import torch.nn.functional as F

        m = F.interpolate(logits[None, None].float(), (self.size, self.size), mode="bilinear", align_corners=False)
        m = (m[0, 0] > threshold).cpu().numpy()
        h, w = frame_size
        x0, y0 = max(self.x0, 0), max(self.y0, 0)
        x1, y1 = min(self.x0 + self.size, w), min(self.y0 + self.size, h)
        return m[y0 - self.y0 : y1 - self.y0, x0 - self.x0 : x1 - self.x0], (x0, y0)


def validate_boxes(boxes, width: int, height: int) -> np.ndarray:
    """Check [N, 4] xyxy boxes and clamp them to the frame.

    A NaN, a box with x2 <= x1 or y2 <= y1, or one entirely outside the frame raises a
    ValueError naming its index.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim == 1 and boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape [N, 4], got {boxes.shape}")
    for i, b in enumerate(boxes):
        if not np.all(np.isfinite(b)):
            raise ValueError(f"box {i} is not finite: {b.tolist()}")
        if b[2] <= b[0] or b[3] <= b[1]:
            raise ValueError(f"box {i} has no area (need x2 > x1 and y2 > y1): {b.tolist()}")
    clamped = boxes.copy()
    clamped[:, [0, 2]] = clamped[:, [0, 2]].clip(0, width)
    clamped[:, [1, 3]] = clamped[:, [1, 3]].clip(0, height)
    for i, b in enumerate(clamped):
        if b[2] <= b[0] or b[3] <= b[1]:
            raise ValueError(f"box {i} lies outside the {width}x{height} frame: {boxes[i].tolist()}")
    return clamped


def _centred(cx: float, cy: float, size: int) -> Window:
    return Window(int(round(cx - size / 2)), int(round(cy - size / 2)), size)


def object_window(box: np.ndarray, window: int, context: float = 1.25) -> Window:
    """ROS-SAM's crop: a ``window``-px square centred on the box, grown for large objects."""
    side = max(window, int(np.ceil(max(box[2] - box[0], box[3] - box[1]) * context)))
    return _centred((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, side)


def window_sizes(boxes: np.ndarray, window: int, context: float = 1.4, levels: int = 5) -> np.ndarray:
    """Adaptive zoom: each box's window is the smallest of ``window``, ``window / sqrt 2``, ...
    (``levels`` sizes, down to ``window / 4`` by default) that holds ``context`` times the box's
    longer side; boxes too large for any keep ``window`` (and ``object_window`` grows it).

    A 6 px car in tiny's 128 px window fills 5% of it, far from the 40-100% the model saw in
    training; in a 32 px window it fills a fifth and is zoomed x8 instead of x2.
    """
    sizes = np.array([int(round(window * 2 ** (-k / 2))) for k in range(levels)])  # descending
    need = np.max(boxes[:, 2:] - boxes[:, :2], axis=1) * context if len(boxes) else np.zeros(0)
    fits = sizes[None, :] >= need[:, None]  # [N, levels]; True for a prefix of the levels
    return sizes[np.maximum(fits.sum(axis=1) - 1, 0)]


def plan_windows(boxes: np.ndarray, window: int, margin: float, share: bool = True,
                 sizes: np.ndarray | None = None) -> tuple[list[Window], np.ndarray]:
    """Group boxes into windows; returns the windows and each box's window index.

    With ``share``, a box joins a group when the union of the group's boxes still fits in
    ``window - 2 * margin``; the group's window is centred on that union. Without it (or for a
    box too large to share), each box gets its own centred window, as in ROS-SAM.

    ``sizes``: a window size per box (``window_sizes``); boxes share only with boxes of the same
    size, and the margin scales with the size.
    """
    if sizes is not None:
        sizes = np.asarray(sizes)
        windows: list[Window] = []
        index = np.full(len(boxes), -1, dtype=np.int64)
        for size in np.unique(sizes)[::-1]:
            members = np.flatnonzero(sizes == size)
            ws, idx = plan_windows(boxes[members], int(size), margin * size / window, share)
            index[members] = idx + len(windows)
            windows += ws
        return windows, index
    n = len(boxes)
    index = np.full(n, -1, dtype=np.int64)
    windows: list[Window] = []
    inner = window - 2 * margin
    order = np.lexsort((boxes[:, 1], boxes[:, 0]))
    for i in order:
        if index[i] >= 0:
            continue
        b = boxes[i]
        if not share or max(b[2] - b[0], b[3] - b[1]) > inner:
            index[i] = len(windows)
            windows.append(object_window(b, window))
            continue
        union = b.copy()
        members = [i]
        for j in order:
            if index[j] >= 0 or j == i:
                continue
            c = boxes[j]
            u = np.array([min(union[0], c[0]), min(union[1], c[1]), max(union[2], c[2]), max(union[3], c[3])])
            if u[2] - u[0] <= inner and u[3] - u[1] <= inner:
                union = u
                members.append(j)
        index[members] = len(windows)
        windows.append(_centred((union[0] + union[2]) / 2, (union[1] + union[3]) / 2, window))
    return windows, index


def crop_window(image: np.ndarray, w: Window, fill=FILL) -> np.ndarray:
    """The window's pixels; parts outside the frame are ``fill``."""
    h, wd = image.shape[:2]
    out = np.empty((w.size, w.size, 3), dtype=image.dtype)
    out[:] = np.asarray(fill, dtype=image.dtype)
    x0, y0 = max(w.x0, 0), max(w.y0, 0)
    x1, y1 = min(w.x0 + w.size, wd), min(w.y0 + w.size, h)
    if x1 > x0 and y1 > y0:
        out[y0 - w.y0 : y1 - w.y0, x0 - w.x0 : x1 - w.x0] = image[y0:y1, x0:x1]
    return out

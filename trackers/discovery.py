"""Moving-object discovery without prompts: registered three-frame differencing.

Frame t is compared with frames t-k and t-2k after compensating the platform's motion (phase
correlation on a downscaled frame). A pixel is "moving" where t differs from both: a moving
object shows at its current place in both differences, while its old places (ghosts) show in
one each. A pixel must beat three thresholds: a grey-level floor, a multiple of the frame's
robust noise, and a multiple of the local noise (mean difference in a window around it), so
that busy texture (JPEG blocks, roofs, soil) needs a larger change than a smooth road, where the
cars are. A slow object (moving less than half its length over the gap) also leaves a trail that
differs from both frames: the ground it covered in both and has left. In frame t that is ground,
so with ``trail`` > 0 a moving pixel must also differ from the frame's local background (a
median) by that share of its change. That places a slow object's blob on the object, but a faint
car's front alone often misses the thresholds where front and trail together pass: it suits
detections that measure tracks already known, not ones that must find faint new objects (the
pipeline turns it on for prompted runs only, ``trail=None``).
Blobs are filtered by size and shape; the tracker suppresses those that overlap live tracks.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .motion import global_shift


@dataclass
class DiscoveryConfig:
    enabled: bool = True
    gap: int = 2  # k: frames between the compared frames
    threshold: float = 8.0  # grey-level difference floor
    smooth: float = 0.6  # Gaussian sigma applied to every frame first
    noise_factor: float = 5.0  # ... or this many robust noise sigmas of the frame
    local_factor: float = 5.0  # ... or this many local noise sigmas, whichever is largest
    local_window: int = 31  # px: the window of the local noise estimate
    min_area: int = 6  # px
    max_area: int = 20000
    max_aspect: float = 25.0
    min_extent: float = 0.15  # blob area / box area
    edge_factor: float = 1.0  # px of misalignment tolerated (registration, parallax of tall buildings)
    merge: int = 3  # closing kernel (px) joining blob pieces a pixel apart (1: none)
    downscale: int = 1  # for the registration only (2 halves its cost, with ~0.4 px error)
    pad: float = 1.0  # px added around each blob's box
    # > 0: a moving pixel must also differ from its frame's local background (median) by this x
    # its change: a slow object's trail is background now. None: 0 here; a pipeline run uses
    # PROMPTED_TRAIL where its tracks come from prompts and 0 where it discovers (README)
    trail: float | None = None
    trail_window: int = 15  # px: the median window of that background


PROMPTED_TRAIL = 0.25  # ``trail`` of a run whose tracks come from prompts (``trail=None``)


class MotionDiscovery:
    """Feed frames in order with ``__call__(frame)``; returns [M, 4] xyxy proposals.

    Its only state is ``history``, the smoothed grey frames it compares (oldest first, at most
    2 x gap + 1): pass a saved list to continue a run; the list given is the one updated."""

    def __init__(self, config: DiscoveryConfig | None = None, history: list[np.ndarray] | None = None):
        self.cfg = config or DiscoveryConfig()
        self.history: list[np.ndarray] = history if history is not None else []

    def reset(self) -> None:
        self.history.clear()

    def _aligned_diff(self, ref: np.ndarray, cur: np.ndarray, shift: np.ndarray) -> np.ndarray:
        dx, dy = shift
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        warped = cv2.warpAffine(ref, m, ref.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # match the reference's brightness and contrast to the current frame's (sensor gain flicker)
        warped = (warped - warped.mean()) * (cur.std() / max(float(warped.std()), 1e-6)) + cur.mean()
        diff = cv2.absdiff(cur, warped)
        border = int(np.ceil(max(abs(dx), abs(dy)))) + 1  # no evidence where the shift brought in no pixels
        diff[:border] = 0
        diff[-border:] = 0
        diff[:, :border] = 0
        diff[:, -border:] = 0
        return diff

    def __call__(self, frame: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        """exclude: [N, 4] xyxy boxes left out of the registration (the tracked objects over the
        compared frames: on smooth ground a lone contrasted mover would drive it)."""
        if not self.cfg.enabled:
            return np.zeros((0, 4))
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        gray = cv2.GaussianBlur(gray, (0, 0), self.cfg.smooth)  # sensor noise down, small cars kept
        self.history.append(gray)
        del self.history[: -(2 * self.cfg.gap + 1)]
        if len(self.history) < 3:
            return np.zeros((0, 4))
        # until 2 x gap + 1 frames are in, compare over a shorter gap: an object present from
        # the first frame is proposed from the third on
        gap = min(self.cfg.gap, (len(self.history) - 1) // 2)
        # each reference is registered to the current frame directly: chaining frame-to-frame
        # shifts accumulates their errors (about 0.05 px a step), and edges turn into motion
        cur, mid, old = self.history[-1], self.history[-1 - gap], self.history[-1 - 2 * gap]
        d = np.minimum(self._aligned_diff(mid, cur, global_shift(mid, cur, self.cfg.downscale, exclude)),
                       self._aligned_diff(old, cur, global_shift(old, cur, self.cfg.downscale, exclude)))
        sigma = 1.4826 * np.median(np.abs(d - np.median(d)))
        # local noise: the mean difference around each pixel (x 1.25 gives a Gaussian's sigma),
        # with the differences clipped so that a mover does not raise its own threshold
        clipped = np.minimum(d, 3 * max(float(sigma), 1.0))
        local = cv2.blur(clipped, (self.cfg.local_window,) * 2) * 1.2533
        thr = np.maximum(max(self.cfg.threshold, self.cfg.noise_factor * sigma), self.cfg.local_factor * local)
        # misregistration by e px makes a difference of about e x the gradient at edges
        grad = cv2.magnitude(cv2.Sobel(cur, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(cur, cv2.CV_32F, 0, 1, ksize=3)) / 8
        raw = d > np.maximum(thr, self.cfg.edge_factor * grad)
        if (self.cfg.trail or 0.0) > 0:
            # a slow object's trail (covered in both earlier frames, ground now) differs from
            # both like its front does; now it is ground: near its local background
            raw &= _near_background(cur, d, raw, self.cfg.trail, self.cfg.trail_window)
        raw = raw.astype(np.uint8)
        k = self.cfg.merge
        joined = cv2.morphologyEx(raw, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
        stats[:, cv2.CC_STAT_AREA] = np.bincount(labels[raw > 0], minlength=n)  # evidence, not closing
        boxes = []
        h, w = raw.shape
        for k in range(1, n):
            x, y, bw, bh, area = stats[k]
            if not self.cfg.min_area <= area <= self.cfg.max_area:
                continue
            if max(bw, bh) / max(min(bw, bh), 1) > self.cfg.max_aspect or area / (bw * bh) < self.cfg.min_extent:
                continue
            p = self.cfg.pad
            boxes.append([max(x - p, 0), max(y - p, 0), min(x + bw + p, w), min(y + bh + p, h)])
        return np.array(boxes, np.float64).reshape(-1, 4)


def _near_background(cur: np.ndarray, d: np.ndarray, raw: np.ndarray, factor: float, window: int) -> np.ndarray:
    """Where ``cur`` differs from its local background (the median of a ``window`` px square)
    by at least ``factor`` x the difference ``d``; evaluated at the pixels of ``raw`` only, the
    median taken on crops around its pieces (the same values as over the whole frame, at a
    fraction of the cost)."""
    out = np.zeros(raw.shape, bool)
    n, _, stats, _ = cv2.connectedComponentsWithStats(raw.astype(np.uint8), connectivity=8)
    if n <= 1:
        return out
    grey = lambda part: np.clip(part, 0, 255).astype(np.uint8)  # medianBlur's 8 bits
    if n > 2000:  # pieces everywhere (a frame of noise): one median over the frame is cheaper
        return raw & (np.abs(cur - cv2.medianBlur(grey(cur), window).astype(np.float32)) >= factor * d)
    h, w = raw.shape
    r = window // 2
    for x, y, bw, bh, _ in stats[1:].tolist():
        x1, y1, x2, y2 = max(x - r, 0), max(y - r, 0), min(x + bw + r, w), min(y + bh + r, h)
        bg = cv2.medianBlur(grey(cur[y1:y2, x1:x2]), window)[y - y1 : y - y1 + bh, x - x1 : x - x1 + bw]
        part = (slice(y, y + bh), slice(x, x + bw))
        out[part] |= np.abs(cur[part] - bg.astype(np.float32)) >= factor * d[part]
    return out

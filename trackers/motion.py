"""Motion measured without masks: the platform's shift between frames, and each object's own
displacement by template matching in a search window around its prediction.

On the real Jilin-1 clip of the project's dev data (cars of 4-6 px moving about 10 px a frame),
a car's 11 px patch matched in the next frame within 16 px of its old place (no velocity known)
lands within 3 px of the true centre for 86% of the cars; pyramidal Lucas-Kanade on the same
patches 12% (the car is too small to carry the flow), the zero-motion guess 5%.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class MotionConfig:
    enabled: bool = True
    min_score: float = 0.5  # normalised correlation below this: no measurement
    template_pad: float = 0.0  # the template is the object's box grown by this x its size ...
    min_template: int = 7  # ... and at least this many px on a side
    max_template: int = 24  # larger objects are matched on a frame shrunk to this template size
    new_search: float = 2.0  # search radius of a track without velocity: this x its longer side ...
    new_search_discovered: float = 3.0  # ... for a discovered track, whose box is its moving blob:
    #                                     the object's body, where a user's box has a margin ...
    min_new_search: float = 14.0  # ... and at least this many px: a user's tight box of a small
    #                               fast car (90% of the real dev clip's cars move at most 14 px
    #                               a frame: 2.4 lengths of a 6 px car)
    wide_search: float = 2.0  # ... and for a user's box, where no place there that matches back
    wide_score: float = 0.7  #     correlates this well (a tight box of a faster car), this x as
    #                             far, up to wide_search x min_new_search px (1: no second search)
    k_sigma: float = 3.0  # a track with velocity: this many position sigmas ...
    min_search: float = 3.0  # ... plus this many px
    candidates: int = 3  # best places per track, shared out among tracks without conflict
    share_radius: float = 0.35  # candidates closer than this x the box's diagonal are one place
    #                             (a user's box may hold a margin: cars in neighbouring lanes,
    #                             7 px apart in 11 px boxes, are two places)
    max_template_run: int = 3  # frames in a row a track may be measured by its template alone
    stuck_speed: float = 0.5  # a track moving at least this x its longer side a frame (2 px at
    #                           least) takes no template place nearer its last place than its prediction
    backward: float = 0.25  # a user's box without velocity yet takes a place only if matching
    #                         it back lands within this x the object's longer side (2 px at
    #                         least) of where it was (0: no check)
    platform: bool = True  # compensate the platform's motion in every prediction
    platform_downscale: int = 2  # the registration runs on a frame shrunk this much (0: to 1024 px at most)


def to_gray(image: np.ndarray) -> np.ndarray:
    """float32 grey of an RGB uint8 frame (or a grey one)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.asarray(image, np.float32)


def _keep(shape, boxes: np.ndarray, d: int) -> np.ndarray:
    """1 outside ``boxes`` (grown by a pixel, in a frame shrunk by ``d``), 0 inside, soft edges."""
    keep = np.ones(shape, np.float32)
    h, w = shape
    b = np.asarray(boxes, np.float64).reshape(-1, 4) / d
    lo = np.clip(np.floor(b[:, :2]) - 1, 0, [w, h]).astype(np.int64)
    hi = np.clip(np.ceil(b[:, 2:]) + 1, 0, [w, h]).astype(np.int64)
    for (x1, y1), (x2, y2) in zip(lo.tolist(), hi.tolist()):
        keep[y1:y2, x1:x2] = 0
    return cv2.GaussianBlur(keep, (0, 0), 1.5)


def global_shift(ref: np.ndarray, cur: np.ndarray, downscale: int = 0, exclude: np.ndarray | None = None) -> np.ndarray:
    """Translation (dx, dy) that maps grey frame ``ref`` onto ``cur`` (phase correlation on the
    frame shrunk by ``downscale``; 0: to 1024 px at most). ``exclude``: [N, 4] xyxy boxes left
    out of both frames (the tracked objects, where they were and where they are predicted): on
    smooth ground a lone contrasted mover would otherwise drive the correlation."""
    if float(np.std(ref)) < 1e-3 or float(np.std(cur)) < 1e-3:
        return np.zeros(2)  # a featureless frame (blank, or all cloud) shows no shift (the correlation's is arbitrary)
    d = int(downscale) if downscale else int(np.ceil(max(ref.shape) / 1024))
    d = max(d, 1)
    if d > 1:
        ref = cv2.resize(ref, None, fx=1 / d, fy=1 / d, interpolation=cv2.INTER_AREA)
        cur = cv2.resize(cur, None, fx=1 / d, fy=1 / d, interpolation=cv2.INTER_AREA)
    window = cv2.createHanningWindow(ref.shape[::-1], cv2.CV_32F)
    ref, cur = np.array(ref, np.float32), np.array(cur, np.float32)  # phaseCorrelate writes into its inputs
    if exclude is not None and len(exclude):
        ref = (ref - ref.mean()) * _keep(ref.shape, exclude, d)
        cur = (cur - cur.mean()) * _keep(cur.shape, exclude, d)
    (dx, dy), _ = cv2.phaseCorrelate(ref, cur, window)
    return np.array([dx, dy]) * d


def _correlate(win: np.ndarray, template: np.ndarray, radius: float) -> np.ndarray:
    """Normalised correlation of ``template`` at every place of ``win``, whose centre is where
    the search is centred; -1 where it is undefined or farther than ``radius`` px (the search
    is a disc: the window's corners lie farther)."""
    res = cv2.matchTemplate(win, template, cv2.TM_CCOEFF_NORMED)
    res[~np.isfinite(res)] = -1.0
    cy, cx = (res.shape[0] - 1) / 2, (res.shape[1] - 1) / 2
    yy, xx = np.mgrid[: res.shape[0], : res.shape[1]]
    res[(xx - cx) ** 2 + (yy - cy) ** 2 > radius * radius] = -1.0
    return res


def _peak(res: np.ndarray) -> tuple[float, float, float]:
    """Sub-pixel location (x, y) and value of a correlation map's maximum (parabola fit)."""
    _, best, _, (x, y) = cv2.minMaxLoc(res)
    fx, fy = float(x), float(y)
    if 0 < x < res.shape[1] - 1:
        l, c, r = res[y, x - 1], res[y, x], res[y, x + 1]
        den = l - 2 * c + r
        if den < 0:
            fx += float(np.clip(0.5 * (l - r) / den, -0.5, 0.5))
    if 0 < y < res.shape[0] - 1:
        u, c, d = res[y - 1, x], res[y, x], res[y + 1, x]
        den = u - 2 * c + d
        if den < 0:
            fy += float(np.clip(0.5 * (u - d) / den, -0.5, 0.5))
    return fx, fy, float(best)


def match_templates(prev: np.ndarray, cur: np.ndarray, boxes: np.ndarray, centres: np.ndarray,
                    radii: np.ndarray, cfg: MotionConfig | None = None, top: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Where each object of ``prev`` lies in ``cur``: the ``top`` best places.

    prev, cur: grey frames (float32, H x W); boxes: [N, 4] xyxy of the objects in ``prev``;
    centres: [N, 2] the predicted centres in ``cur``; radii: [N] search radii in px.
    Returns centres [N, top, 2] in ``cur`` and scores [N, top] (normalised correlation), best
    first, NaN where there is no such place; peaks closer than half the template are one.
    """
    cfg = cfg or MotionConfig()
    n = len(boxes)
    out = np.full((n, top, 2), np.nan)
    scores = np.full((n, top), np.nan)
    h, w = cur.shape
    for i in range(n):
        x1, y1, x2, y2 = boxes[i]
        bw, bh = x2 - x1, y2 - y1
        if not (np.isfinite(centres[i]).all() and bw > 0 and bh > 0):
            continue
        # templates larger than max_template are matched on frames shrunk to fit it
        s = min(1.0, cfg.max_template / max(bw, bh, 1.0))
        tw = max(cfg.min_template, int(round((bw * (1 + 2 * cfg.template_pad)) * s)) | 1)
        th = max(cfg.min_template, int(round((bh * (1 + 2 * cfg.template_pad)) * s)) | 1)
        r = max(int(np.ceil(radii[i] * s)), 1)
        c0 = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
        t = _patch(prev, c0, tw, th, s)
        win = _patch(cur, centres[i], tw + 2 * r, th + 2 * r, s)
        if t is None or win is None or t.std() < 1e-3:
            continue
        res = _correlate(win, t, r)
        for k in range(top):
            px, py, best = _peak(res)
            if best <= -1.0:
                break
            # the window's centre is the prediction: its top-left match is at (r, r)
            out[i, k] = centres[i] + (np.array([px, py]) - r) / s
            scores[i, k] = best
            ix, iy = int(round(px)), int(round(py))
            res[max(iy - th // 2, 0) : iy + th // 2 + 1, max(ix - tw // 2, 0) : ix + tw // 2 + 1] = -1.0
    outside = (out[..., 0] < 0) | (out[..., 0] >= w) | (out[..., 1] < 0) | (out[..., 1] >= h)
    out[outside] = np.nan
    scores[outside] = np.nan
    return out, scores


def backward_error(prev: np.ndarray, cur: np.ndarray, boxes: np.ndarray, places: np.ndarray,
                   radii: np.ndarray, cfg: MotionConfig | None = None) -> np.ndarray:
    """Forward-backward check of template matches: each place [N, K, 2] found in ``cur`` for
    the object in ``boxes`` [N, 4] of ``prev`` is matched back into ``prev`` (the patch at the
    place, searched within the same radius around the object's old centre). Returns [N, K] px
    between where it comes back and where the object was (NaN where there is no place): the
    car ahead in a column matches back onto its own old place, not onto the car behind."""
    n, k = places.shape[:2]
    err = np.full((n, k), np.nan)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2
    for j in range(k):
        ok = np.isfinite(places[:, j]).all(axis=1)
        if not ok.any():
            continue
        at = np.concatenate([places[ok, j] - half[ok], places[ok, j] + half[ok]], axis=1)
        back, _ = match_templates(cur, prev, at, centres[ok], radii[ok], cfg, top=1)
        err[ok, j] = np.linalg.norm(back[:, 0] - centres[ok], axis=1)
    return err


def find_near(img: np.ndarray, template: np.ndarray, centre, radius: float) -> tuple[np.ndarray, float]:
    """Where ``template`` (a patch cut around an object) best matches ``img`` within ``radius``
    px of ``centre``: the sub-pixel centre found and its normalised correlation (NaN and -1
    where the window's centre leaves the frame or the template is flat)."""
    th, tw = template.shape
    r = max(int(np.ceil(radius)), 1)
    win = _patch(img, centre, tw + 2 * r, th + 2 * r, 1.0)
    if win is None or template.std() < 1e-3:
        return np.full(2, np.nan), -1.0
    px, py, best = _peak(_correlate(win, template, radius))
    return np.asarray(centre, np.float64) + (np.array([px, py]) - r), best


def cut_patch(img: np.ndarray, centre, pw: int, ph: int) -> np.ndarray | None:
    """A pw x ph patch of ``img`` centred on ``centre`` (sub-pixel; the edge's pixels repeated
    past the frame's edge); None where the centre leaves the frame."""
    return _patch(img, centre, pw, ph, 1.0)


def _patch(img: np.ndarray, centre, pw: int, ph: int, scale: float) -> np.ndarray | None:
    """A pw x ph patch (in scaled px) centred on ``centre`` (full-frame px), sampled at ``scale``;
    None where it leaves the frame (at scale 1: where its centre does)."""
    cx, cy = centre
    hw, hh = pw / (2 * scale), ph / (2 * scale)
    x1, y1, x2, y2 = cx - hw, cy - hh, cx + hw, cy + hh
    if scale == 1.0 and 0 <= cx < img.shape[1] and 0 <= cy < img.shape[0]:
        # sub-pixel centres are kept by getRectSubPix; past the frame's edge it repeats the
        # edge's pixels, so that objects entering or leaving are still matched
        return cv2.getRectSubPix(img, (pw, ph), (float(cx) - 0.5, float(cy) - 0.5))
    if x1 < 0 or y1 < 0 or x2 > img.shape[1] or y2 > img.shape[0]:
        return None
    xi1, yi1 = int(np.floor(x1)), int(np.floor(y1))
    xi2, yi2 = int(np.ceil(x2)), int(np.ceil(y2))
    return cv2.resize(img[yi1:yi2, xi1:xi2], (pw, ph), interpolation=cv2.INTER_AREA)

"""Tracking metrics: CLEAR MOT and identity metrics through motmetrics (with our own IoU
distance, since its ``iou_matrix`` fails on numpy 2), and HOTA as TrackEval computes it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from data.mot import Tracks
from trackers.matching import centre_distance, iou_matrix

CLEAR_METRICS = ["mota", "motp", "idf1", "idp", "idr", "num_switches", "num_false_positives", "num_misses",
                 "num_objects", "num_predictions", "mostly_tracked", "mostly_lost"]


@dataclass(frozen=True)
class Matching:
    """When a predicted box may pair with a true one: ``iou`` at least ``threshold``, or
    ``centre``: box centres at most ``threshold`` px apart (DSFNet's rule for small cars, blind
    to the size convention of the boxes)."""

    kind: str = "iou"
    threshold: float = 0.5

    def __post_init__(self):
        if self.kind not in ("iou", "centre"):
            raise ValueError(f"matching must be 'iou' or 'centre', got {self.kind!r}")
        if self.threshold <= 0 or (self.kind == "iou" and self.threshold > 1):
            raise ValueError(f"bad {self.kind} threshold {self.threshold}")

    def distance(self, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """motmetrics distances (1 - IoU, or px), NaN ("cannot pair") beyond the threshold."""
        if self.kind == "iou":
            d = 1.0 - iou_matrix(gt, pred)
            d[d > 1.0 - self.threshold] = np.nan
            return d
        d = centre_distance(np.asarray(gt, np.float64).reshape(-1, 4), np.asarray(pred, np.float64).reshape(-1, 4))
        d[d > self.threshold] = np.nan
        return d

    def similarity(self, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """HOTA's localisation similarity in [0, 1]: IoU, or 1 - distance / threshold."""
        if self.kind == "iou":
            return iou_matrix(gt, pred)
        d = centre_distance(np.asarray(gt, np.float64).reshape(-1, 4), np.asarray(pred, np.float64).reshape(-1, 4))
        return np.clip(1.0 - d / self.threshold, 0.0, 1.0)

    def describe(self) -> str:
        return f"IoU >= {self.threshold}" if self.kind == "iou" else f"centre distance <= {self.threshold} px"


def _matching(match) -> Matching:
    return match if isinstance(match, Matching) else Matching("iou", float(match))


def iou_distance(gt: np.ndarray, pred: np.ndarray, min_iou: float) -> np.ndarray:
    """1 - IoU, NaN ("cannot pair") below ``min_iou``: motmetrics' convention."""
    return Matching("iou", min_iou).distance(gt, pred)


def accumulate(gt: Tracks, pred: Tracks, match: Matching | float = 0.5):
    """One motmetrics accumulator for a sequence (``match``: a ``Matching`` or a minimum IoU)."""
    import motmetrics as mm

    match = _matching(match)
    acc = mm.MOTAccumulator(auto_id=False)
    g, p = gt.by_frame(), pred.by_frame()
    for f in sorted(set(g) | set(p)):
        gf, pf = g.get(f, Tracks()), p.get(f, Tracks())
        acc.update(gf.ids.tolist(), pf.ids.tolist(), match.distance(gf.boxes, pf.boxes), frameid=int(f))
    return acc


def clear_metrics(accs: list, names: list[str], match: Matching | float = 0.5) -> "pandas.DataFrame":  # noqa: F821
    """CLEAR MOT and identity metrics per sequence plus an ``OVERALL`` row.

    motp is reported as mean IoU of matched pairs (1 - motmetrics' distance), or as the mean
    centre distance in px when matching by centres.
    """
    import motmetrics as mm

    mh = mm.metrics.create()
    df = mh.compute_many(accs, metrics=CLEAR_METRICS, names=names, generate_overall=True)
    if _matching(match).kind == "iou":
        df["motp"] = 1.0 - df["motp"]
    return df


def hota(gt: Tracks, pred: Tracks, match: Matching | None = None) -> dict:
    """HOTA, DetA, AssA, LocA averaged over alpha = 0.05 .. 0.95 (TrackEval's definition), with
    ``match``'s similarity (IoU by default; its threshold plays no part, alpha sweeps it)."""
    match = match or Matching()
    alphas = np.arange(0.05, 0.99, 0.05)
    gt_ids, gt_idx = np.unique(gt.ids, return_inverse=True) if len(gt) else (np.zeros(0), np.zeros(0, int))
    pr_ids, pr_idx = np.unique(pred.ids, return_inverse=True) if len(pred) else (np.zeros(0), np.zeros(0, int))
    ng, npr = len(gt_ids), len(pr_ids)
    frames = sorted(set(gt.frames.tolist()) | set(pred.frames.tolist()))
    per_frame = []
    for f in frames:
        gm, pm = gt.frames == f, pred.frames == f
        per_frame.append((gt_idx[gm], pr_idx[pm], match.similarity(gt.boxes[gm], pred.boxes[pm])))

    potential = np.zeros((ng, npr))
    gt_count = np.zeros((ng, 1))
    pr_count = np.zeros((1, npr))
    for g, p, sim in per_frame:
        denom = sim.sum(0)[None, :] + sim.sum(1)[:, None] - sim
        sim_iou = np.zeros_like(sim)
        ok = denom > np.finfo(float).eps
        sim_iou[ok] = sim[ok] / denom[ok]
        potential[g[:, None], p[None, :]] += sim_iou
        gt_count[g] += 1
        pr_count[0, p] += 1
    global_score = potential / np.maximum(gt_count + pr_count - potential, np.finfo(float).eps)

    tp, fn, fp, loc = (np.zeros(len(alphas)) for _ in range(4))
    matches = np.zeros((len(alphas), ng, npr))
    for g, p, sim in per_frame:
        if len(g) == 0:
            fp += len(p)
            continue
        if len(p) == 0:
            fn += len(g)
            continue
        rows, cols = linear_sum_assignment(-(global_score[g[:, None], p[None, :]] * sim))
        for a, alpha in enumerate(alphas):
            ok = sim[rows, cols] >= alpha - np.finfo(float).eps
            r, c = rows[ok], cols[ok]
            tp[a] += len(r)
            fn[a] += len(g) - len(r)
            fp[a] += len(p) - len(r)
            if len(r):
                loc[a] += sim[r, c].sum()
                matches[a, g[r], p[c]] += 1
    ass = np.zeros(len(alphas))
    for a in range(len(alphas)):
        m = matches[a]
        ass_a = m / np.maximum(1, gt_count + pr_count - m)
        ass[a] = (m * ass_a).sum() / max(1.0, tp[a])
    det = tp / np.maximum(1, tp + fn + fp)
    loc = np.maximum(1e-10, loc) / np.maximum(1e-10, tp)
    h = np.sqrt(det * ass)
    return {"hota": float(h.mean()), "deta": float(det.mean()), "assa": float(ass.mean()), "loca": float(loc.mean())}

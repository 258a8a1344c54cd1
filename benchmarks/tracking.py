"""Tracking metrics: CLEAR MOT and identity metrics through motmetrics (with our own IoU
distance, since its ``iou_matrix`` fails on numpy 2), and HOTA as TrackEval computes it."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from data.mot import Tracks
from trackers.matching import iou_matrix

CLEAR_METRICS = ["mota", "motp", "idf1", "idp", "idr", "num_switches", "num_false_positives", "num_misses",
                 "num_objects", "num_predictions", "mostly_tracked", "mostly_lost"]


def iou_distance(gt: np.ndarray, pred: np.ndarray, min_iou: float) -> np.ndarray:
    """1 - IoU, NaN ("cannot pair") below ``min_iou``: motmetrics' convention."""
    d = 1.0 - iou_matrix(gt, pred)
    d[d > 1.0 - min_iou] = np.nan
    return d


def accumulate(gt: Tracks, pred: Tracks, min_iou: float = 0.5):
    """One motmetrics accumulator for a sequence."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=False)
    g, p = gt.by_frame(), pred.by_frame()
    for f in sorted(set(g) | set(p)):
        gf, pf = g.get(f, Tracks()), p.get(f, Tracks())
        acc.update(gf.ids.tolist(), pf.ids.tolist(), iou_distance(gf.boxes, pf.boxes, min_iou), frameid=int(f))
    return acc


def clear_metrics(accs: list, names: list[str]) -> "pandas.DataFrame":  # noqa: F821
    """CLEAR MOT and identity metrics per sequence plus an ``OVERALL`` row.

    motp is reported as mean IoU of matched pairs (1 - motmetrics' distance).
    """
    import motmetrics as mm

    mh = mm.metrics.create()
    df = mh.compute_many(accs, metrics=CLEAR_METRICS, names=names, generate_overall=True)
    df["motp"] = 1.0 - df["motp"]
    return df


def hota(gt: Tracks, pred: Tracks) -> dict:
    """HOTA, DetA, AssA, LocA averaged over alpha = 0.05 .. 0.95 (TrackEval's definition)."""
    alphas = np.arange(0.05, 0.99, 0.05)
    gt_ids, gt_idx = np.unique(gt.ids, return_inverse=True) if len(gt) else (np.zeros(0), np.zeros(0, int))
    pr_ids, pr_idx = np.unique(pred.ids, return_inverse=True) if len(pred) else (np.zeros(0), np.zeros(0, int))
    ng, npr = len(gt_ids), len(pr_ids)
    frames = sorted(set(gt.frames.tolist()) | set(pred.frames.tolist()))
    per_frame = []
    for f in frames:
        gm, pm = gt.frames == f, pred.frames == f
        per_frame.append((gt_idx[gm], pr_idx[pm], iou_matrix(gt.boxes[gm], pred.boxes[pm])))

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

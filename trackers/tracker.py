"""``MaskTracker``: boxes through time, fed by masks.

One frame with the tracker (shapes: N prompts, H x W frame)::

    tracker.predict(frame)                  # advance every track to this frame
    tracker.add(boxes, classes)             # optional: user / ground-truth boxes for this frame
    tracker.propose(boxes)                  # optional: discovered boxes (reacquire lost, else new)
    prompts = tracker.prompts()             # Prompts(ids [N], boxes [N, 4] xyxy)
    ... segment each prompt box: masks (N bool crops), offsets [N, 2], scores [N] ...
    result = tracker.update(frame, masks, scores, offsets)   # TrackResult for this frame

``predict`` returns ``prompts()`` too, so the short contract ``predict(frame) -> prompts``,
``update(frame, masks, scores) -> tracks`` holds. Track ids come from this instance's counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .kalman import KalmanBoxFilter, cxcywh_to_xyxy, xyxy_to_cxcywh
from .matching import assign, centre_distance, iou_matrix
from .measure import GateConfig, gate, measurement_box

TENTATIVE, CONFIRMED, LOST = 0, 1, 2
STATE_NAMES = {TENTATIVE: "tentative", CONFIRMED: "confirmed", LOST: "lost"}


@dataclass
class TrackerConfig:
    k_sigma: float = 1.0  # prompt = predicted box widened by k standard deviations of its position
    min_margin: float = 0.5  # px added on every side of a predicted prompt
    # tentative (discovered, unconfirmed) tracks get wider prompts: a proposal on moving texture
    # then gives a spread mask that the gate rejects, instead of a plausible one that confirms it
    tentative_k_sigma: float = 2.0
    tentative_min_margin: float = 1.0
    new_track_margin: float = 0.15  # one observation, no velocity yet: widen by this x the box size
    n_init: int = 3  # hits to confirm a tentative track
    max_age: int = 10  # misses before a track is removed
    reacquire_iou: float = 0.05  # a discovered box takes back a lost track at this IoU ...
    reacquire_distance: float = 1.5  # ... or within this many box diagonals of its prediction
    suppress_iou: float = 0.05  # discovered boxes overlapping a live track are dropped
    min_visible: float = 0.3  # a track whose predicted box is less than this inside the frame ends
    std_weight_position: float = 1 / 20
    std_weight_velocity: float = 1 / 160
    gate: GateConfig = field(default_factory=GateConfig)

    def __post_init__(self):
        if self.n_init < 1 or self.max_age < 0 or self.k_sigma < 0:
            raise ValueError("TrackerConfig needs n_init >= 1, max_age >= 0 and k_sigma >= 0")


@dataclass
class Prompts:
    ids: np.ndarray  # [N] int
    boxes: np.ndarray  # [N, 4] xyxy, clamped to the frame

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class TrackResult:
    """Tracks reported for one frame: confirmed tracks measured in it.

    ``prompt_index[k]`` is the row of the frame's prompts (and so of its masks) that track k
    came from; ``rejected`` maps track id to why its mask was not used.
    """

    ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    prompt_index: np.ndarray
    live: int = 0
    rejected: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


def _empty_result(live: int = 0) -> TrackResult:
    return TrackResult(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64),
                       np.zeros(0, np.int64), live)


class MaskTracker:
    def __init__(self, frame_size: tuple[int, int], config: TrackerConfig | None = None):
        self.cfg = config or TrackerConfig()
        self.height, self.width = int(frame_size[0]), int(frame_size[1])
        self.kf = KalmanBoxFilter(self.cfg.std_weight_position, self.cfg.std_weight_velocity)
        self._next_id = 1
        self.frame = 0
        n = 0
        self.ids = np.zeros(n, np.int64)
        self.mean = np.zeros((n, 8))
        self.cov = np.zeros((n, 8, 8))
        self.n_obs = np.zeros(n, np.int64)  # measurements so far (0: only a given box)
        self.hits = np.zeros(n, np.int64)
        self.misses = np.zeros(n, np.int64)
        self.state = np.zeros(n, np.int64)
        self.classes = np.zeros(n, np.int64)
        self.given = np.zeros((n, 4))  # the box a new or reacquired track is prompted with
        self.has_given = np.zeros(n, bool)
        self.ref_area = np.zeros(n)  # the object's size (NaN until known): see GateConfig
        self._prompts: Prompts | None = None

    # -- adding tracks -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def _check_boxes(self, boxes, name: str) -> np.ndarray:
        boxes = np.asarray(boxes, np.float64)
        if boxes.size == 0:
            return np.zeros((0, 4))
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"{name} must have shape [N, 4], got {boxes.shape}")
        if not np.all(np.isfinite(boxes)):
            raise ValueError(f"{name} contains NaN or infinite values")
        if np.any(boxes[:, 2] <= boxes[:, 0]) or np.any(boxes[:, 3] <= boxes[:, 1]):
            i = int(np.flatnonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))[0])
            raise ValueError(f"{name}[{i}] has no area: {boxes[i].tolist()}")
        return boxes

    def add(self, boxes, classes=None, confirmed: bool = True, sized: bool = True) -> np.ndarray:
        """New tracks prompted with ``boxes`` in the current frame; returns their ids.

        sized: the boxes are the objects' extents (user or ground-truth boxes), so they set the
        size prior; discovered boxes are not (their size is learnt from the first mask)."""
        boxes = self._check_boxes(boxes, "boxes")
        n = len(boxes)
        if n == 0:
            return np.zeros(0, np.int64)
        classes = np.full(n, -1) if classes is None else np.asarray(classes, np.int64).reshape(n)
        ids = np.arange(self._next_id, self._next_id + n)
        self._next_id += n
        mean, cov = self.kf.initiate(boxes)
        self.ids = np.r_[self.ids, ids]
        self.mean = np.r_[self.mean, mean]
        self.cov = np.r_[self.cov, cov]
        self.n_obs = np.r_[self.n_obs, np.zeros(n, np.int64)]
        self.hits = np.r_[self.hits, np.zeros(n, np.int64)]
        self.misses = np.r_[self.misses, np.zeros(n, np.int64)]
        self.state = np.r_[self.state, np.full(n, CONFIRMED if confirmed else TENTATIVE)]
        self.classes = np.r_[self.classes, classes]
        self.given = np.r_[self.given, boxes]
        self.has_given = np.r_[self.has_given, np.ones(n, bool)]
        area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        self.ref_area = np.r_[self.ref_area, area if sized else np.full(n, np.nan)]
        self._prompts = None
        return ids

    def propose(self, boxes) -> np.ndarray:
        """Discovered boxes: dropped where they overlap a live track, used to take back lost
        tracks (Hungarian on IoU, gated by IoU or centre distance), else new tentative tracks.
        Returns the ids of the tracks created."""
        boxes = self._check_boxes(boxes, "proposals")
        if len(boxes) == 0:
            return np.zeros(0, np.int64)
        pred = self.predicted_boxes()
        live = self.state != LOST
        if live.any():
            ov = iou_matrix(boxes, pred[live])
            near = centre_distance(boxes, pred[live]) < 0.5 * np.hypot(*(pred[live, 2:] - pred[live, :2]).T)[None]
            boxes = boxes[~((ov > self.cfg.suppress_iou) | near).any(axis=1)]
        lost = np.flatnonzero(self.state == LOST)
        if len(lost) and len(boxes):
            ov = iou_matrix(pred[lost], boxes)
            dist = centre_distance(pred[lost], boxes)
            diag = np.hypot(*(pred[lost, 2:] - pred[lost, :2]).T)[:, None]
            ok = (ov >= self.cfg.reacquire_iou) | (dist <= self.cfg.reacquire_distance * diag)
            cost = np.where(ok, 1.0 - ov + dist / np.maximum(diag, 1) * 0.01, np.inf)
            matches, _, free = assign(cost, max_cost=2.0)
            for r, c in matches:
                t = lost[r]
                self.given[t] = boxes[c]
                self.has_given[t] = True
            boxes = boxes[free]
            self._prompts = None
        return self.add(boxes, confirmed=False, sized=False)

    # -- predict ---------------------------------------------------------------------------
    def predicted_boxes(self) -> np.ndarray:
        return cxcywh_to_xyxy(self.mean[:, :4]) if len(self) else np.zeros((0, 4))

    def predict(self, frame: int) -> Prompts:
        """Advance every track to ``frame`` (several steps if frames were skipped)."""
        steps = frame - self.frame if self.frame else 0
        if steps < 0:
            raise ValueError(f"frame must not go back: at {self.frame}, got {frame}")
        for _ in range(steps):
            self.mean, self.cov = self.kf.predict(self.mean, self.cov)
            self.mean[:, 2:4] = np.maximum(self.mean[:, 2:4], 1.0)
        self.frame = frame
        if len(self):
            pred = self.predicted_boxes()
            cx = np.clip(pred[:, [0, 2]], 0, self.width)
            cy = np.clip(pred[:, [1, 3]], 0, self.height)
            inside = (cx[:, 1] - cx[:, 0]) * (cy[:, 1] - cy[:, 0])
            area = np.prod(pred[:, 2:] - pred[:, :2], axis=1)
            gone = (inside < self.cfg.min_visible * area) & ~self.has_given
            self._keep(~gone)
        self._prompts = None
        return self.prompts()

    def prompts(self) -> Prompts:
        if self._prompts is not None:
            return self._prompts
        if not len(self):
            self._prompts = Prompts(np.zeros(0, np.int64), np.zeros((0, 4)))
            return self._prompts
        pred = self.predicted_boxes()
        w, h = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1]
        tentative = self.state == TENTATIVE
        k = np.where(tentative, self.cfg.tentative_k_sigma, self.cfg.k_sigma)
        margin = np.where(tentative, self.cfg.tentative_min_margin, self.cfg.min_margin)
        sx = k * np.sqrt(self.cov[:, 0, 0]) + margin
        sy = k * np.sqrt(self.cov[:, 1, 1]) + margin
        young = self.n_obs == 1  # no velocity yet: search around the last box
        sx = np.where(young, np.maximum(sx, self.cfg.new_track_margin * w), sx)
        sy = np.where(young, np.maximum(sy, self.cfg.new_track_margin * h), sy)
        boxes = np.stack([pred[:, 0] - sx, pred[:, 1] - sy, pred[:, 2] + sx, pred[:, 3] + sy], 1)
        boxes[self.has_given] = self.given[self.has_given]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, self.width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, self.height)
        # a box squeezed to nothing at the border keeps one pixel
        boxes[:, 2] = np.maximum(boxes[:, 2], np.minimum(boxes[:, 0] + 1, self.width))
        boxes[:, 0] = np.minimum(boxes[:, 0], boxes[:, 2] - 1)
        boxes[:, 3] = np.maximum(boxes[:, 3], np.minimum(boxes[:, 1] + 1, self.height))
        boxes[:, 1] = np.minimum(boxes[:, 1], boxes[:, 3] - 1)
        self._prompts = Prompts(self.ids.copy(), boxes)
        return self._prompts

    # -- update ----------------------------------------------------------------------------
    def update(self, frame: int, masks, scores, offsets=None) -> TrackResult:
        """Masks for the prompts of ``prompts()``, in their order.

        masks: N boolean arrays (full-frame, or crops whose top-left is ``offsets[i]``, x y);
        scores: [N] predicted IoU. Returns the confirmed tracks measured in this frame.
        """
        if frame != self.frame:
            raise ValueError(f"update is for frame {self.frame} (the last predict), got frame={frame}")
        prompts = self.prompts()
        n = len(prompts)
        masks = list(masks) if masks is not None else []
        if len(masks) != n:
            raise ValueError(f"masks: expected {n} (one per prompt), got {len(masks)}")
        scores = np.asarray(scores, np.float64).reshape(-1) if n else np.zeros(0)
        if scores.shape != (n,):
            raise ValueError(f"scores: expected shape ({n},), got {scores.shape}")
        if not np.all(np.isfinite(scores)):
            raise ValueError("scores contains NaN or infinite values")
        offsets = np.zeros((n, 2), np.int64) if offsets is None else np.asarray(offsets).reshape(n, 2)
        for i, m in enumerate(masks):
            if np.ndim(m) != 2:
                raise ValueError(f"masks[{i}] must be a 2-D boolean array, got shape {np.shape(m)}")
        if n == 0:
            return _empty_result()

        pred = self.predicted_boxes()
        measured = np.full((n, 4), np.nan)
        rejected = {}
        # a mask filling the prompt is a leak only where the prompt leaves room around the
        # predicted box: with a tight prompt, a good mask fills it too
        room = np.minimum(pred[:, :2] - prompts.boxes[:, :2], prompts.boxes[:, 2:] - pred[:, 2:]).min(axis=1)
        roomy = room > 2 * self.cfg.gate.leak_margin
        for i in range(n):
            box = measurement_box(masks[i], offsets[i], prompts.boxes[i])
            widened = not self.has_given[i] and roomy[i]
            reference = self.given[i] if self.has_given[i] else pred[i]
            why = gate(box, scores[i], reference, prompts.boxes[i], widened, self.cfg.gate, self.ref_area[i])
            if why is None:
                measured[i] = box
            else:
                rejected[int(self.ids[i])] = why
        ok = ~np.isnan(measured[:, 0])

        # measured: first measurement initiates, later ones update the filter
        first = ok & (self.n_obs == 0)
        later = ok & (self.n_obs > 0)
        if first.any():
            self.mean[first], self.cov[first] = self.kf.initiate(measured[first])
        if later.any():
            self.mean[later], self.cov[later] = self.kf.update(self.mean[later], self.cov[later],
                                                               xyxy_to_cxcywh(measured[later]))
        unsized = ok & np.isnan(self.ref_area)
        self.ref_area[unsized] = np.prod(measured[unsized, 2:] - measured[unsized, :2], axis=1)
        self.n_obs[ok] += 1
        self.hits[ok] += 1
        self.misses[ok] = 0
        self.state[ok & (self.state == LOST)] = CONFIRMED
        self.state[ok & (self.state == TENTATIVE) & (self.hits >= self.cfg.n_init)] = CONFIRMED

        # missed: a given (user) box still counts as the first observation; tentative tracks end
        miss = ~ok
        given_first = miss & (self.n_obs == 0) & (self.state == CONFIRMED)
        if given_first.any():
            self.mean[given_first], self.cov[given_first] = self.kf.initiate(self.given[given_first])
            self.n_obs[given_first] = 1
        self.misses[miss] += 1
        self.state[miss & (self.state == CONFIRMED)] = LOST
        remove = (miss & (self.state == TENTATIVE)) | (self.misses > self.cfg.max_age)

        report = ok & (self.state == CONFIRMED)
        idx = np.flatnonzero(report)
        result = TrackResult(self.ids[idx].copy(), measured[idx], scores[idx], self.classes[idx].copy(), idx,
                             rejected=rejected)
        self.has_given[:] = False
        self._keep(~remove)
        result.live = int((self.state != LOST).sum())
        self._prompts = None
        return result

    def _keep(self, keep: np.ndarray) -> None:
        for name in ("ids", "mean", "cov", "n_obs", "hits", "misses", "state", "classes", "given", "has_given",
                     "ref_area"):
            setattr(self, name, getattr(self, name)[keep])
        self._prompts = None

"""``MaskTracker``: boxes through time, fed by masks and by motion.

One frame with the tracker (shapes: N prompts, H x W frame)::

    tracker.predict(frame, image)           # platform shift, Kalman predict, each object's match
    tracker.add(boxes, classes)             # optional: user / ground-truth boxes for this frame
    tracker.propose(detections)             # optional: moving-object blobs of this frame
    groups, probes = tracker.co_moving()    # optional: segment each probe box, then
    tracker.join(groups, masks, scores, offsets, probes)   # tracks on one object's edges join
    prompts = tracker.prompts()             # Prompts(ids [N], boxes [N, 4] xyxy)
    ... segment each prompt box: masks (N bool crops), offsets [N, 2], scores [N] ...
    result = tracker.update(frame, masks, scores, offsets)   # TrackResult for this frame

Each track is measured twice a frame. The motion measurement needs no mask: the object's patch
of the previous frame matched around its prediction (``trackers.motion``), replaced by the
frame's moving-object detection where one is associated with the track. It corrects the
prediction before the prompt is made, so an object that moved by its own size is still inside
its prompt, and it gives a new track its velocity from its second frame on. The mask then
measures the object from the corrected prompt; where the mask fails the gate, or the object is
too small for a mask to add anything (``mask_min_size``) and the segmenter is unsure of it
(``small_mask_score``), or the mask covers the place of another confirmed track of about its
size (two objects seen from orbit do not overlap: ``neighbour_size``), the motion measurement
is used. A small user's object given in a box of its own is held, whichever measured it, to
its patch in the frame it was given (``reference_radius``): the previous frame's template
carries a pixel of error into the next, the first patch none. A detection is associated with
a track only if it is not much smaller than the object (the moving edge of a train is not the
train); a slow discovered object shows only its front in the difference image, and is placed
where it holds that blob.

Without ``image`` in ``predict`` the tracker runs on masks alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .kalman import KalmanBoxFilter, cxcywh_to_xyxy, xyxy_to_cxcywh
from .matching import assign, centre_distance, iou_matrix
from .measure import GateConfig, gate, measurement_box
from .motion import MotionConfig, backward_error, cut_patch, find_near, global_shift, match_templates, to_gray
from .state import (CONFIRMED, DETECTION, GIVEN, LOST, MASK, NONE, SOURCE_NAMES, STATUS_NAMES, TEMPLATE,  # noqa: F401
                    REF_PATCH, TENTATIVE, TrackerState)



@dataclass
class TrackerConfig:
    k_sigma: float = 1.0  # prompt = predicted box widened by k standard deviations of its position
    min_margin: float = 0.5  # px added on every side of a predicted prompt
    # tentative (discovered, unconfirmed) tracks get wider prompts: a proposal on moving texture
    # then gives a spread mask that the gate rejects, instead of a plausible one that confirms it
    tentative_k_sigma: float = 2.0
    tentative_min_margin: float = 1.0
    new_track_margin: float = 0.15  # one observation, no velocity yet: widen by this x the box size
    motion_margin: float = 0.15  # a prompt centred on the motion measurement: object + this x size
    mask_min_size: float = 16.0  # px: below this longer side the motion measurement is used ...
    # a user's object under mask_min_size whose box is its own (its first mask found at most
    # reference_margin px around it) is held to its patch in the frame it was given: found
    # again within reference_radius px of each measurement (0: off), where it correlates
    # reference_score or better and at least half a pixel away, the measurement moves there
    reference_radius: float = 2.0
    reference_margin: float = 1.0
    reference_score: float = 0.7
    small_mask_score: float = 0.7  # ... unless the segmenter's predicted IoU reaches this (then
    #                                its later masks that pass the gate measure the object too)
    mask_max_shift: float = 0.5  # a mask whose centre is off the motion measurement by more than
    #                              this x the object's diagonal disagrees with it and is not used
    # objects seen from orbit do not overlap: a mask that covers the place of another confirmed
    # track at least this x its own size (longer side) holds that neighbour too (a car's mask
    # grown over the car beside it) and does not measure it (0: never; the parts of one object
    # are smaller than it)
    neighbour_size: float = 0.5
    # a user's track with no motion measurement of its own takes no blob inside the predicted
    # box of a confirmed track at least this x longer: the blob is most likely that object's
    # moving edge (a car that drove under an airplane's wing took one and followed the
    # airplane; 0: off)
    cover_size: float = 4.0
    n_init: int = 3  # detection-supported hits to confirm a tentative track ...
    confirm_min_shift: float = 3.0  # ... once it is this many px (ground, not frame) from where it was first measured
    max_age: int = 10  # misses before a track is removed
    suppress_iou: float = 0.05  # discovered boxes overlapping a live track are dropped, and
    suppress_distance: float = 1.0  # those whose centre is within this x its diagonal
    detection_gate: float = 0.5  # a detection is a track's within this x its diagonal of the
    #                              track's motion measurement (2 px at least) ...
    detection_min_size: float = 1 / 3  # ... and if its longer side is at least this x the track's:
    #                                    the moving edges of a large object are parts, not it
    detection_pad: float = 1.0  # px the detector adds around each blob (the pipeline sets
    #                             DiscoveryConfig.pad here)
    shared_blob_area: float = 1.5  # a blob holding the places of two users' objects moving
    #                                together and this x larger than each is both (``_shared_blobs``)
    # a track with a velocity whose predicted box is less than this inside the frame ends (one
    # still coming in does not: the platform's jitter pushes a sliver out, not its own motion)
    min_visible: float = 0.3
    # a user's box at most this many px deep at the frame's edge holds only the part of an
    # object coming in (no object followed from orbit is that small): while it comes in, its
    # masks that reach the same edge measure it (from its second frame, where no blob does) and
    # grow its size across that edge, by at most entering_growth px a frame (a mask that leaks
    # into the ground grows faster: one grown more than that passes only the usual gate, and
    # the size grows by entering_growth, so that the object's own growth after it still counts).
    # A large object's (mask_min_size or more) grows along the edge too, whatever placed it (an
    # airplane coming in nose first widens along the edge as its wings come in)
    sliver: float = 2.0
    entering_growth: float = 3.0
    # a discovered track's reference size is its first mask's, which may hold a part of its
    # object (a ship's cockpit, the bow seen first): where its confident masks (small_mask_score)
    # of an object of parts (group_min_size at least) are rejected as another size but agree on
    # it (areas within resize_tolerance of the first) resize_frames frames in a row, that size
    # becomes its reference (a mask leaking into the ground grows frame after frame instead; a
    # small car's mask that took in the dark ground beside it agreed with itself for 3 frames)
    resize_frames: int = 3
    resize_tolerance: float = 0.15
    # discovered tracks that move together (velocities within this x the faster one's speed, 1 px
    # at least) and near each other may be the moving edges of one object: ``co_moving`` groups
    # them for a probing mask over them all
    group_velocity: float = 0.25
    group_min_velocity: float = 1.0  # px a frame: the velocity tolerance's floor
    # a part (a blob, or a mask under group_min_size) reaches this x its longer side; a member
    # its own masks measured at group_min_size or more is an object and reaches 1 x its own
    group_gap: float = 6.0
    group_lateral: float = 1.0  # ... and across their heading within this x the longer side
    group_min_size: float = 32.0  # px: an object of parts is this long at least (probes reach it each way, masks must)
    group_max_size: float = 400.0  # px: ... and at most this (a 400 m ship at 1 m a pixel)
    group_score: float = 0.7  # the probing mask's predicted IoU must reach this to join a group ...
    # ... or this where the mask holds group_many members or more and its longer side reaches
    # group_many_size px: the moving edges of a train, a ship or an airplane (at 1 m a pixel, a
    # column of cars is shorter and its probing mask, over the cars and the road between, is
    # as unsure)
    group_score_many: float = 0.5
    group_many: int = 3
    group_many_size: float = 64.0
    std_weight_position: float = 1 / 20
    std_weight_velocity: float = 1 / 160
    gate: GateConfig = field(default_factory=GateConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)

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
    came from; ``sources[k]`` what measured its box (``SOURCE_NAMES``); ``rejected`` maps track
    id to why its mask was not used.
    """

    ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    prompt_index: np.ndarray
    live: int = 0
    rejected: dict = field(default_factory=dict)
    sources: np.ndarray | None = None
    pending: TrackResult | None = None  # tentative tracks measured in this frame (same fields)

    def __post_init__(self):
        if self.sources is None:
            self.sources = np.full(len(self.ids), MASK, np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, rows) -> TrackResult:
        rows = np.asarray(rows, np.int64)
        return TrackResult(self.ids[rows], self.boxes[rows].reshape(-1, 4), self.scores[rows], self.classes[rows],
                           self.prompt_index[rows], self.live, self.rejected, self.sources[rows])

    def extend(self, other: TrackResult) -> None:
        """Append ``other``'s tracks (their prompt_index refers to the same frame's prompts)."""
        for name in ("ids", "boxes", "scores", "classes", "prompt_index", "sources"):
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))


def _empty_result(live: int = 0) -> TrackResult:
    return TrackResult(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64),
                       np.zeros(0, np.int64), live)


def _moved(boxes: np.ndarray, d: np.ndarray) -> np.ndarray:
    return boxes + np.concatenate([d, d], axis=1)


def _centred(centres: np.ndarray, wh: np.ndarray) -> np.ndarray:
    return np.concatenate([centres - wh / 2, centres + wh / 2], axis=1)


def _containing(blobs: np.ndarray, ref: np.ndarray, extent: np.ndarray, partial: np.ndarray) -> np.ndarray:
    """Object centres from moving blobs ``blobs`` [N, 4]: the blob's centre, except along the
    axes where the blob is ``partial`` [N, 2] (a slow object's difference image shows only the
    part that moved onto new ground, its front, so the blob's centre is ahead of the object's):
    there the place nearest to ``ref`` [N, 2] where an object of size ``extent`` [N, 2] holds
    the blob."""
    lo, hi = blobs[:, 2:] - extent / 2, blobs[:, :2] + extent / 2
    held = np.clip(ref, lo, np.maximum(lo, hi))
    return np.where(partial & (lo <= hi), held, (blobs[:, :2] + blobs[:, 2:]) / 2)


def _behind_front(blobs: np.ndarray, size: np.ndarray, velocity: np.ndarray, moved: np.ndarray,
                  pad: float) -> tuple[np.ndarray, np.ndarray]:
    """Object centres from the blobs [N, 4] of objects of a user's ``size`` [N, 2] that may hold
    a margin, moving along one axis less than their length over the detector's span (``moved``
    [N, 2] px, ``velocity`` [N, 2] for the heading). Such a blob is the object's front (the part
    on new ground), so its centre is ahead of the object's by about half the length not yet
    moved; the object's front edge is the blob's less the detector's ``pad``. Across the motion
    the blob spans the object's whole width, which gives the user's margin, and so the object's
    length inside the user's box. Returns the centres and where they apply (a blob at least as
    long as that length holds the whole object, or a neighbour too: its own centre stands)."""
    axis = np.argmax(moved, axis=1)
    rows = np.arange(len(blobs))
    body = blobs[:, 2:] - blobs[:, :2] - 2 * pad
    margin = np.maximum(size[rows, 1 - axis] - body[rows, 1 - axis], 0.0)
    length = np.maximum(size[rows, axis] - margin, 1.0)
    ahead = velocity[rows, axis] > 0
    front = np.where(ahead, blobs[rows, 2 + axis] - pad, blobs[rows, axis] + pad)
    centres = (blobs[:, :2] + blobs[:, 2:]) / 2
    centres[rows, axis] = front - np.where(ahead, 1, -1) * length / 2
    applies = (((moved >= 1.0).sum(axis=1) == 1) & (moved < size).all(axis=1)
               & (body[rows, axis] < length))
    return centres, applies


def _on_mask(mask: np.ndarray, offset, boxes: np.ndarray) -> np.ndarray:
    """[N]: the mask (a crop whose top-left is ``offset``, x y) has a pixel inside box n."""
    h, w = mask.shape
    lo = np.floor(boxes[:, :2] - np.asarray(offset, np.float64)).astype(int).clip(0, [w, h])
    hi = np.ceil(boxes[:, 2:] - np.asarray(offset, np.float64)).astype(int).clip(0, [w, h])
    return np.array([mask[y0:y1, x0:x1].any() for (x0, y0), (x1, y1) in zip(lo, hi)], bool)


def check_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """[N, 4] xyxy float boxes, each with an area and finite; a ValueError naming ``name`` and
    the first bad row otherwise."""
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


class _InState:
    """A field of the tracker's ``TrackerState``, read and written there (``tracker.ids`` is
    ``tracker.state.ids``)."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj, owner=None):
        return self if obj is None else getattr(obj.state, self.name)

    def __set__(self, obj, value):
        setattr(obj.state, self.name, value)


class MaskTracker:
    """The tracker's whole state between frames is ``self.state`` (a ``TrackerState``): pass a
    saved one to continue a run; its fields read as the tracker's own attributes."""

    def __init__(self, frame_size: tuple[int, int], config: TrackerConfig | None = None,
                 state: TrackerState | None = None):
        self.cfg = config or TrackerConfig()
        self.height, self.width = int(frame_size[0]), int(frame_size[1])
        self.kf = KalmanBoxFilter(self.cfg.std_weight_position, self.cfg.std_weight_velocity)
        self.state = state if state is not None else TrackerState()
        if self.state.gray is not None and self.state.gray.shape != (self.height, self.width):
            raise ValueError(f"tracker state is for {self.state.gray.shape} frames, not {(self.height, self.width)}")
        self._prompts: Prompts | None = None  # a cache, recomputed from the state

    @property
    def _gray(self) -> np.ndarray | None:
        return self.state.gray

    # -- adding tracks -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def reserve(self, n: int) -> np.ndarray:
        """``n`` new track ids, taken now for tracks added later (prompts waiting for a frame)."""
        ids = np.arange(self.state.next_id, self.state.next_id + n, dtype=np.int64)
        self.state.next_id += n
        return ids

    def add(self, boxes, classes=None, confirmed: bool = True, sized: bool = True, ids=None) -> np.ndarray:
        """New tracks prompted with ``boxes`` in the current frame; returns their ids.

        sized: the boxes are the objects' extents in the user's convention (user or ground-truth
        boxes): they set the size prior, and the track reports boxes of that size centred on the
        measured object. Discovered boxes are not sized (their size is learnt from the first
        measurement, and the measured box is reported). ids: ids from ``reserve`` (-1: a new one)."""
        boxes = check_boxes(boxes, "boxes")
        n = len(boxes)
        if n == 0:
            return np.zeros(0, np.int64)
        classes = np.full(n, -1) if classes is None else np.asarray(classes, np.int64).reshape(n)
        ids = np.full(n, -1, np.int64) if ids is None else np.array(ids, np.int64).reshape(n)
        new = ids < 0
        ids[new] = self.reserve(int(new.sum()))
        mean, cov = self.kf.initiate(boxes)
        wh = boxes[:, 2:] - boxes[:, :2]
        entering = sized & self._edge_axes(boxes).any(axis=1) & (wh.min(axis=1) <= self.cfg.sliver)
        self._append(
            ids=ids, mean=mean, cov=cov, n_obs=np.zeros(n, np.int64), hits=np.zeros(n, np.int64),
            misses=np.zeros(n, np.int64), status=np.full(n, CONFIRMED if confirmed else TENTATIVE),
            classes=classes, given=boxes, has_given=np.ones(n, bool),
            ref_area=np.prod(wh, axis=1) if sized else np.full(n, np.nan),
            size=wh if sized else np.full((n, 2), np.nan), pad=np.full((n, 2), np.nan),
            motion=np.full((n, 2), np.nan), motion_src=np.full(n, NONE, np.int64), parts=np.zeros(n, bool),
            unsupported=np.zeros(n, np.int64), origin=np.full((n, 2), np.nan), entering=entering,
            alt_area=np.full(n, np.nan), alt_count=np.zeros(n, np.int64), ref_pixels=np.full(n, np.nan),
            ref_patch=np.full((n, REF_PATCH, REF_PATCH), np.nan, np.float32),
        )
        return ids

    def _append(self, **arrays) -> None:
        self.state.append(**arrays)
        self._prompts = None

    def propose(self, boxes, new_tracks: bool = True, span: int = 1) -> np.ndarray:
        """The frame's moving-object detections (xyxy). Associated with live tracks first
        (Hungarian on centre distance to each track's motion measurement, or to its prediction
        where it has none, gated by the track's search radius): an associated detection becomes
        the track's motion measurement, and supports a tentative track's confirmation. The rest
        take back lost tracks, and with ``new_tracks`` start tentative ones, unless they overlap
        a live track. Returns the ids of the tracks created.

        span: frames between the images the detector compared. A discovered object that moved
        less than its own size over them shows only its front in a difference image: its blob
        then places the object (which holds it) nearest to the template's or the prediction's
        place, instead of at the blob's centre; a user's small object that no mask has measured
        yet lies behind its blob's front (``_behind_front``). A blob over the template
        places of touching users' objects measures none of them (``_shared_blobs``)."""
        boxes = check_boxes(boxes, "proposals")
        if len(boxes) == 0:
            return np.zeros(0, np.int64)
        live = np.flatnonzero((self.status != LOST) & ~self.has_given)
        free = np.arange(len(boxes))
        if len(live):
            free = self._associate(live, boxes, free, span)
        lost = np.flatnonzero(self.status == LOST)
        if len(lost):
            free = self._associate(lost, boxes, free, span)
        boxes = boxes[free]
        live = np.flatnonzero(self.status != LOST)
        if len(live) and len(boxes):
            pred = self.corrected_boxes()[live]
            c = (boxes[:, :2] + boxes[:, 2:]) / 2
            inside = ((c[:, None] >= pred[None, :, :2]) & (c[:, None] <= pred[None, :, 2:])).all(axis=2)
            # the moving edges of a large object: they support it (it moves), not measure it
            small = self._parts(boxes, pred[:, 2:] - pred[:, :2])
            self.parts[live[(inside & small).any(axis=0)]] = True
            ov = iou_matrix(boxes, pred)
            near = centre_distance(boxes, pred) < self.cfg.suppress_distance * np.hypot(*(pred[:, 2:] - pred[:, :2]).T)[None]
            boxes = boxes[~((ov > self.cfg.suppress_iou) | near | inside).any(axis=1)]
        if not new_tracks:
            return np.zeros(0, np.int64)
        ids = self.add(boxes, confirmed=False, sized=False)
        self.motion[len(self) - len(ids):] = (boxes[:, :2] + boxes[:, 2:]) / 2
        self.motion_src[len(self) - len(ids):] = DETECTION
        return ids

    def _associate(self, tracks: np.ndarray, boxes: np.ndarray, free: np.ndarray, span: int = 1) -> np.ndarray:
        """Stage one: ``tracks`` with a motion measurement, to detections near it; stage two: the
        rest, to detections within their search radius of the prediction. Returns the
        detections left."""
        pred = self.predicted_boxes()[tracks]
        wh = pred[:, 2:] - pred[:, :2]
        diag = np.hypot(wh[:, 0], wh[:, 1])
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        too_small = self._parts(boxes, np.where(np.isnan(self.size[tracks]), wh, self.size[tracks])).T
        # an object that moved less than its own size over the detector's span shows only its
        # front, along the axes it moved on. A discovered track's box is its body (measured by
        # its blobs and masks); a user's box may hold a margin, so its size says nothing of this
        # until masks have measured the object (``pad`` known), and then only for small objects:
        # a large one's first mask may hold a part (a truck's cab), and its blobs keep their centres
        sized = ~np.isnan(self.size[tracks, 0])
        measured = sized & ~np.isnan(self.pad[tracks, 0]) & (self.size[tracks].max(axis=1) < self.cfg.mask_min_size)
        moved = np.abs(self.mean[tracks, 4:6]) * span
        slow = ((moved < wh).all(axis=1, keepdims=True) & (moved >= 1.0)
                & ((self.n_obs[tracks] >= 2) & (~sized | measured))[:, None])
        border = self._blind_border()
        has_motion = ~np.isnan(self.motion[tracks, 0])
        for stage in (has_motion, ~has_motion):
            rows = np.flatnonzero(stage)
            if not len(rows) or not len(free):
                continue
            t = tracks[rows]
            if stage is has_motion:
                ref = self.motion[t]
                radius = np.maximum(self.cfg.detection_gate * diag[rows], 2.0)
            else:
                ref = (pred[rows, :2] + pred[rows, 2:]) / 2
                radius = self._search_radius()[t]
            dist = np.linalg.norm(ref[:, None] - centres[free][None], axis=2) / radius[:, None]
            dist[too_small[rows][:, free]] = np.inf
            user = np.flatnonzero(sized[rows]) if stage is not has_motion and self.cfg.cover_size > 0 else []
            if len(user):
                dist[user] = np.where(self._under_larger(t[user], centres[free]), np.inf, dist[user])
            if stage is has_motion:
                shared, held = self._shared_blobs(t, ref, boxes[free], wh[rows], np.isfinite(dist) & sized[rows][:, None])
                if len(shared):
                    # each keeps its own template place, supported by the blob (it moves)
                    self.motion_src[t[held]] = DETECTION
                    left = np.setdiff1d(np.arange(len(free)), shared)
                    free, rows, ref, dist = free[left], rows[~held], ref[~held], dist[~held][:, left]
                    if not len(rows) or not len(free):
                        continue
            matches, _, _ = assign(dist, max_cost=1.0)
            if len(matches):
                r = rows[matches[:, 0]]
                k, blob = tracks[r], boxes[free[matches[:, 1]]]
                self.motion[k] = _containing(blob, ref[matches[:, 0]], wh[r], slow[r])
                # a user's small object whose margin no mask has measured yet (with velocity)
                user = (sized[r] & np.isnan(self.pad[k, 0]) & (self.n_obs[k] >= 2)
                        & (self.size[k].max(axis=1) < self.cfg.mask_min_size))
                if user.any():
                    placed, applies = _behind_front(blob[user], self.size[k[user]], self.mean[k[user], 4:6],
                                                    moved[r][user], self.cfg.detection_pad)
                    self.motion[k[user][applies]] = placed[applies]
                self.motion_src[k] = DETECTION
                # a user's box cut by the frame's edge (an object coming in) held only the part
                # inside: the object is at least as large as its moving blob
                cut = ~np.isnan(self.size[k, 0]) & (self._at_edge(pred[r]) | self._at_edge(blob, border))
                # (its filter's box and the gate's reference area too, or its masks would be
                # rejected as grown)
                kc, bwh = k[cut], blob[cut, 2:] - blob[cut, :2]
                self.size[kc] = np.maximum(self.size[kc], bwh)
                self.mean[kc, 2:4] = np.maximum(self.mean[kc, 2:4], bwh)
                self.ref_area[kc] = np.prod(self.size[kc], axis=1)  # a user's track's reference is its size
            free = np.delete(free, matches[:, 1])
        self._prompts = None
        return free

    def _under_larger(self, tracks: np.ndarray, points: np.ndarray) -> np.ndarray:
        """[T, P]: whether each point lies inside the predicted box of another confirmed track at
        least ``cover_size`` x longer than each of ``tracks``: a blob there is most likely a
        moving edge of that larger object (a car that drove under an airplane's wing)."""
        live = np.flatnonzero(self.status == CONFIRMED)
        pred = self.predicted_boxes()
        longer = (pred[:, 2:] - pred[:, :2]).max(axis=1)
        inside = ((points[None] >= pred[live, None, :2]) & (points[None] <= pred[live, None, 2:])).all(axis=2)  # [L, P]
        larger = longer[live][None] >= self.cfg.cover_size * longer[tracks][:, None]  # [T, L]
        larger &= live[None] != tracks[:, None]
        return (larger[:, :, None] & inside[None]).any(axis=1)

    def _shared_blobs(self, tracks: np.ndarray, places: np.ndarray, blobs: np.ndarray, wh: np.ndarray,
                      may: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Blobs of touching users' objects: a blob that holds the motion ``places`` [T, 2] of two
        or more of ``tracks`` (where ``may`` [T, B] allows: the association passes users' objects
        within their gates) moving together (velocities within ``group_velocity`` x the faster one's speed, 1 px
        a frame at least) and is ``shared_blob_area`` x larger than the largest of their boxes
        ``wh`` [T, 2]: two cars a pixel apart show as one blob, whose centre lies between them,
        so it measures neither. Returns the shared blobs' indices and the tracks [T] they hold.
        (Discovered tracks are not passed: the moving edges of one large object share its blobs,
        and joining them is ``co_moving``'s.)"""
        cfg = self.cfg
        inside = ((places[:, None] >= blobs[None, :, :2]) & (places[:, None] <= blobs[None, :, 2:])).all(axis=2) & may
        area = np.prod(blobs[:, 2:] - blobs[:, :2], axis=1)
        velocity = self.mean[tracks, 4:6]
        shared = []
        for b in np.flatnonzero(inside.sum(axis=0) >= 2):
            members = np.flatnonzero(inside[:, b])
            v = velocity[members]
            spread = np.linalg.norm(v[:, None] - v[None], axis=2).max()
            together = spread <= max(cfg.group_min_velocity, cfg.group_velocity * np.linalg.norm(v, axis=1).max())
            if together and area[b] >= cfg.shared_blob_area * np.prod(wh[members], axis=1).max():
                shared.append(b)
        shared = np.array(shared, np.int64)
        return shared, inside[:, shared].any(axis=1)

    def _at_edge(self, boxes: np.ndarray, within: float = 1.0) -> np.ndarray:
        """[N]: the box reaches the frame's edge (``within`` px of it)."""
        return self._edge_axes(boxes, within).any(axis=1)

    def _blind_border(self) -> float:
        """px from the frame's edge where this frame shows no evidence (the detector's registration
        brought no pixels in there): the platform's shift + 2 px."""
        return float(np.ceil(np.abs(self.platform_shift).max()) + 2)

    def _edge_sides(self, boxes: np.ndarray, within: float = 1.0) -> np.ndarray:
        """[N, 4]: the box reaches the frame's left, top, right, bottom edge (within ``within`` px)."""
        return np.concatenate([boxes[:, :2] <= within, boxes[:, 2:] >= np.array([self.width, self.height]) - within], axis=1)

    def _edge_axes(self, boxes: np.ndarray, within: float = 1.0) -> np.ndarray:
        """[N, 2]: the box reaches a left or right edge (x), a top or bottom edge (y)."""
        sides = self._edge_sides(boxes, within)
        return sides[:, :2] | sides[:, 2:]

    def _parts(self, boxes: np.ndarray, wh: np.ndarray) -> np.ndarray:
        """[D, T]: detection d is too small to be object t of size ``wh`` [T, 2] (a moving edge)."""
        longer = wh.max(axis=1)
        return (boxes[:, 2:] - boxes[:, :2]).max(axis=1)[:, None] < self.cfg.detection_min_size * longer[None]

    # -- the moving edges of one large object ------------------------------------------------
    def slower_than_size(self, span: int = 1) -> np.ndarray:
        """[N]: the track moves less than its box's longer side over ``span`` frames (over the
        detector's span such an object shows only its front, and may be the moving edge of a
        larger one; a faster object's blob is the whole object)."""
        return np.linalg.norm(self.mean[:, 4:6], axis=1) * span < self.mean[:, 2:4].max(axis=1)

    def co_moving(self, span: int = 1) -> tuple[list[np.ndarray], np.ndarray]:
        """Groups of discovered tracks (row indices) that move together near each other, and a
        prompt over each group (their boxes' union, widened by a tenth, inside the frame; a union
        shorter than ``group_min_size`` is grown to it each way around its centre, and probed
        only where no member's own mask has measured it): a
        train or an airplane slower than its own length shows in the difference images as blobs
        at its moving edges, and each blob starts a track. ``span``: frames between the images
        the detector compared; only tracks that moved less than their own size over it can be
        such edges."""
        cfg = self.cfg
        box = self.corrected_boxes()
        speed = np.linalg.norm(self.mean[:, 4:6], axis=1)
        longer = (box[:, 2:] - box[:, :2]).max(axis=1)
        edge = (speed >= 0.5) & self.slower_than_size(span)
        rows = np.flatnonzero(np.isnan(self.size[:, 0]) & (self.status != LOST) & (self.n_obs >= 2) & edge)
        if len(rows) < 2:
            return [], np.zeros((0, 4))
        box, speed, longer, v = box[rows], speed[rows], longer[rows], self.mean[rows, 4:6]
        faster = np.maximum(speed[:, None], speed[None])
        same = np.linalg.norm(v[:, None] - v[None], axis=2) <= np.maximum(cfg.group_velocity * faster, cfg.group_min_velocity)
        gap = np.maximum(np.maximum(box[:, None, :2] - box[None, :, 2:], box[None, :, :2] - box[:, None, 2:]), 0).max(axis=2)
        # a part (a blob, or a mask shorter than an object of parts) may lie up to group_gap x
        # its length from the rest of its object; a member whose own masks measured it at an
        # object's length is the object already, and reaches no further than its length (a
        # joined ship's 6 x 68 px reached a car on the next road, 240 px away, and a mask of the
        # ground between them joined the two)
        measured = ~np.isnan(self.ref_area[rows])
        part = ~measured | (longer < cfg.group_min_size)
        reach_of = longer * np.where(part, cfg.group_gap, 1.0)
        near = gap <= np.maximum(reach_of[:, None], reach_of[None])
        # ... and along their way: a slow object's moving edges lie on its path (its front and
        # back, a wing's edge beside the fuselage), while a car on the next road at the same
        # speed lies across it. Across the pair's mean heading, the boxes' extents are at most
        # group_lateral x the longer side apart
        heading = (v[:, None] + v[None]) / 2
        heading /= np.maximum(np.linalg.norm(heading, axis=2, keepdims=True), 1e-9)
        normal = np.stack([-heading[..., 1], heading[..., 0]], axis=2)  # [R, R, 2]
        centre, half = (box[:, :2] + box[:, 2:]) / 2, (box[:, 2:] - box[:, :2]) / 2
        apart = np.abs((normal * (centre[:, None] - centre[None])).sum(axis=2))
        reach = (np.abs(normal) * (half[:, None] + half[None])).sum(axis=2)
        near &= np.maximum(apart - reach, 0) <= cfg.group_lateral * np.maximum(longer[:, None], longer[None])
        n, label = connected_components(csr_matrix(same & near), directed=False)
        groups, boxes = [], []
        for k in range(n):
            g = np.flatnonzero(label == k)
            if len(g) < 2:
                continue
            union = np.r_[box[g, :2].min(axis=0), box[g, 2:].max(axis=0)]
            if (union[2:] - union[:2]).max() < cfg.group_min_size:
                # members nearer together than an object of parts is long may lie inside one
                # whose ends show no change (a dark ship on dark water changes only where its
                # deck's texture moves; no mask ever measured such a blob's track): the probe
                # is that long each way around them at least, for the mask to take it in. A
                # member that its own masks measured is an object, not a part of one
                if measured[g].any():
                    continue
                union = _centred((union[None, :2] + union[None, 2:]) / 2,
                                 np.maximum(union[None, 2:] - union[None, :2], cfg.group_min_size))[0]
            if (union[2:] - union[:2]).max() <= cfg.group_max_size:
                # widened, so that an object reaching the members' outer edges does not fill it
                room = np.maximum(0.1 * (union[2:] - union[:2]), 2.0)
                groups.append(rows[g])
                boxes.append(np.clip(np.r_[union[:2] - room, union[2:] + room], 0, [self.width, self.height] * 2))
        return groups, np.array(boxes, np.float64).reshape(-1, 4)

    def join(self, groups: list[np.ndarray], masks, scores, offsets, prompts: np.ndarray) -> np.ndarray:
        """Probing masks of ``co_moving`` groups (one per group, prompted with ``prompts``):
        where the mask is confident (``group_score``, or ``group_score_many`` over many members
        and a long object) and does not run through its prompt (from edge to opposite edge),
        the members whose boxes hold a pixel of it (two at least) are one object: the member
        with the most evidence goes on as a track on the mask's box (velocity those members'
        mean), the other members on it end, the rest go on. Returns the ids ended."""
        cfg = self.cfg
        pred = self.corrected_boxes()
        centres = (pred[:, :2] + pred[:, 2:]) / 2
        end = np.zeros(len(self), bool)
        for g, mask, score, offset, prompt in zip(groups, masks, scores, offsets, prompts):
            box = measurement_box(mask, offset, prompt)
            if box is None or score < min(cfg.group_score, cfg.group_score_many) or (box[2:] - box[:2]).max() < cfg.group_min_size:
                continue
            touch = np.abs(box - prompt) <= cfg.gate.leak_margin
            if (touch[0] and touch[2]) or (touch[1] and touch[3]):
                continue  # runs through its prompt: a road or a column of cars, not one object
            # the members on the mask are one object; the others (a car that passed by at the
            # same speed, beside a long diagonal train's mask but inside its box) go on as they were
            g = g[_on_mask(np.asarray(mask, bool), offset, pred[g])]
            many = len(g) >= cfg.group_many and (box[2:] - box[:2]).max() >= cfg.group_many_size
            if len(g) < 2 or score < (cfg.group_score_many if many else cfg.group_score):
                continue
            keep = g[np.argmax(self.hits[g])]
            # the way it travelled so far stays: its origin moves with its centre
            self.origin[keep] += (box[:2] + box[2:]) / 2 - centres[keep]
            mean, cov = self.kf.initiate(box[None])
            mean[0, 4:6] = self.mean[g, 4:6].mean(axis=0)
            self.mean[keep], self.cov[keep] = mean[0], cov[0]
            self.ref_area[keep] = np.prod(box[2:] - box[:2])
            self.hits[keep] = self.hits[g].max()
            if (self.status[g] == CONFIRMED).any():
                self.status[keep] = CONFIRMED
            self.motion[keep], self.motion_src[keep] = np.nan, NONE
            end[g[g != keep]] = True
        ended = self.ids[end].copy()
        self._keep(~end)
        return ended

    # -- predict ---------------------------------------------------------------------------
    def predicted_boxes(self) -> np.ndarray:
        return cxcywh_to_xyxy(self.mean[:, :4]) if len(self) else np.zeros((0, 4))

    def _search_radius(self) -> np.ndarray:
        """px around the prediction where the object may be: wide without a velocity."""
        cfg = self.cfg.motion
        pred = self.predicted_boxes()
        longer = (pred[:, 2:] - pred[:, :2]).max(axis=1) if len(self) else np.zeros(0)
        sigma = np.sqrt(np.maximum(self.cov[:, 0, 0], self.cov[:, 1, 1]))
        factor = np.where(np.isnan(self.size[:, 0]), cfg.new_search_discovered, cfg.new_search)
        young = np.maximum(factor * longer, cfg.min_new_search) * (1 + self.misses)
        return np.where(self.n_obs <= 1, young, cfg.k_sigma * sigma + cfg.min_search)

    def predict(self, frame: int, image: np.ndarray | None = None) -> Prompts:
        """Advance every track to ``frame`` (several steps if frames were skipped). With the
        frame's ``image``: compensate the platform's motion and measure each track's motion."""
        steps = frame - self.frame if self.frame else 0
        if steps < 0:
            raise ValueError(f"frame must not go back: at {self.frame}, got {frame}")
        gray = to_gray(image) if image is not None else None
        before = self.predicted_boxes()
        seen = (self.misses == 0) & (self.n_obs > 0)  # measured in the previous frame
        # a template follows whatever it last held: after a few frames with no detection or
        # mask to confirm it, it may be following the ground, and the track coasts instead
        seen &= self.unsupported < self.cfg.motion.max_template_run
        mcfg = self.cfg.motion
        self.platform_shift = np.zeros(2)
        if gray is not None and self._gray is not None and mcfg.platform and self._gray.shape == gray.shape:
            # the tracked objects left out: where they were, and where their velocity puts them now
            exclude = np.concatenate([before, _moved(before, self.mean[:, 4:6] * max(steps, 1))]) if len(self) else None
            self.platform_shift = global_shift(self._gray, gray, mcfg.platform_downscale, exclude)
            self.mean[:, :2] += self.platform_shift
            self.origin += self.platform_shift
        for _ in range(steps):
            self.mean, self.cov = self.kf.predict(self.mean, self.cov)
            self.mean[:, 2:4] = np.maximum(self.mean[:, 2:4], 1.0)
        self.frame = frame
        self.motion = np.full((len(self), 2), np.nan)
        self.motion_src = np.full(len(self), NONE, np.int64)
        self.parts = np.zeros(len(self), bool)
        if gray is not None and self._gray is not None and mcfg.enabled and seen.any():
            pred = self.predicted_boxes()
            idx = np.flatnonzero(seen)
            radii = self._search_radius()[idx]
            centres, scores = match_templates(self._gray, gray, before[idx], (pred[idx, :2] + pred[idx, 2:]) / 2,
                                              radii, mcfg, top=mcfg.candidates)
            wh = before[idx, 2:] - before[idx, :2]
            longer = wh.max(axis=1)
            # without a velocity the search is wide (twice the object's length), and a column of
            # look-alike cars offers the neighbour's place, a rail bed or a road a thin train's or
            # a ship's: keep the places that match back onto the object (a discovered track has
            # its blobs to correct it, a user's box has not yet)
            young = np.flatnonzero((self.n_obs[idx] == 1) & ~np.isnan(self.size[idx, 0]))
            scores[young] = self._matched_back(gray, before[idx[young]], centres[young], radii[young], scores[young])
            # where no place that matches back fits well, the object moved farther than its first
            # search (a tight box of a fast car): it is searched for again, farther, though no
            # farther than a car drives a frame (past that a column offers look-alikes)
            k = young[~(np.nan_to_num(scores[young, 0], nan=-1.0) >= mcfg.wide_score)] if mcfg.wide_search > 1 else []
            if len(k):
                wide = np.maximum(radii[k], mcfg.wide_search * np.minimum(radii[k], mcfg.min_new_search))
                wc, ws = match_templates(self._gray, gray, before[idx[k]], (pred[idx[k], :2] + pred[idx[k], 2:]) / 2,
                                         wide, mcfg, top=mcfg.candidates)
                ws = self._matched_back(gray, before[idx[k]], wc, wide, ws)
                better = np.nan_to_num(ws[:, 0], nan=-1.0) > np.nan_to_num(scores[k, 0], nan=-1.0)
                centres[k[better]], scores[k[better]] = wc[better], ws[better]
            found, where = self._share_out(centres, scores, np.hypot(wh[:, 0], wh[:, 1]))
            # a moving object's template found nearer its last place than where it was to move
            # held the ground there, not the object (a faint car on a dark road): the track
            # coasts on its velocity instead
            last = (before[idx, :2] + before[idx, 2:]) / 2 + self.platform_shift
            ahead = (pred[idx, :2] + pred[idx, 2:]) / 2
            moving = np.linalg.norm(ahead - last, axis=1) >= np.maximum(mcfg.stuck_speed * longer, 2.0)
            stuck = moving & (np.linalg.norm(where - last, axis=1) < np.linalg.norm(where - ahead, axis=1))
            found &= ~stuck
            self.motion[idx[found]] = where[found]
            self.motion_src[idx[found]] = TEMPLATE
        if gray is not None:
            self.state.gray = gray
        if len(self):
            pred = self.predicted_boxes()
            cx = np.clip(pred[:, [0, 2]], 0, self.width)
            cy = np.clip(pred[:, [1, 3]], 0, self.height)
            inside = (cx[:, 1] - cx[:, 0]) * (cy[:, 1] - cy[:, 0])
            area = np.prod(pred[:, 2:] - pred[:, :2], axis=1)
            # only a track with a velocity can be leaving, and not one still coming in: a sliver
            # given at the edge is pushed out by the platform's jitter, not by its own motion
            gone = (inside < self.cfg.min_visible * area) & ~self.has_given & (self.n_obs >= 2) & ~self.entering
            self._keep(~gone)
        self._prompts = None
        return self.prompts()

    def _matched_back(self, gray: np.ndarray, boxes: np.ndarray, places: np.ndarray, radii: np.ndarray,
                      scores: np.ndarray) -> np.ndarray:
        """``scores`` [N, K] of the ``places`` [N, K, 2] found in ``gray`` for the objects at
        ``boxes`` in the previous frame, NaN where the place, searched for in the previous frame
        within ``radii``, lands more than ``MotionConfig.backward`` x the object's longer side
        (2 px at least) from where it was (``backward`` 0: as they are)."""
        mcfg = self.cfg.motion
        if mcfg.backward <= 0 or not len(boxes):
            return scores
        err = backward_error(self._gray, gray, boxes, places, radii, mcfg)
        longer = (boxes[:, 2:] - boxes[:, :2]).max(axis=1)
        return np.where(err <= np.maximum(mcfg.backward * longer, 2.0)[:, None], scores, np.nan)

    def skip(self, frame: int) -> None:
        """The frame (after ``predict(frame)``) could not be decoded: every track coasts through
        it. Nothing was seen, so nothing ends here (tentative tracks too); it counts as a frame
        without a measurement (``max_age``, and the velocity of a track's second measurement)."""
        if frame != self.frame:
            raise ValueError(f"skip is for frame {self.frame} (the last predict), got frame={frame}")
        self.misses += 1
        self.has_given[:] = False
        self._prompts = None

    def swept_boxes(self, frames: int) -> np.ndarray:
        """[N, 4] boxes covering each live track from ``frames`` frames ago to its prediction now
        (by its velocity): where the tracked objects were over that time."""
        live = self.status != LOST
        now = self.predicted_boxes()[live]
        then = _moved(now, -self.mean[live, 4:6] * frames)
        return np.concatenate([np.minimum(now[:, :2], then[:, :2]), np.maximum(now[:, 2:], then[:, 2:])], axis=1)

    def _share_out(self, centres: np.ndarray, scores: np.ndarray, diag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One place per track from its candidate places ([M, K, 2] with scores [M, K]), no
        place to two tracks: two cars side by side look alike, and a young track's search
        reaches its neighbour. Candidates closer than ``share_radius`` x the track's diagonal
        are one place; the assignment (Hungarian) maximises the summed correlation."""
        m, k = scores.shape
        valid = np.isfinite(scores) & (scores >= self.cfg.motion.min_score)
        owner, cand = np.nonzero(valid)
        found, where = np.zeros(m, bool), np.full((m, 2), np.nan)
        if not len(owner):
            return found, where
        pts = centres[owner, cand]
        radius = self.cfg.motion.share_radius * np.maximum(diag[owner], 2.0)
        site = np.full(len(pts), -1)
        sites = 0
        for j in np.argsort(-scores[owner, cand]):  # strongest candidates found places first
            if site[j] >= 0:
                continue
            close = (site < 0) & (np.linalg.norm(pts - pts[j], axis=1) < radius[j])
            site[close] = sites
            sites += 1
        cost = np.full((m, sites), np.inf)
        np.minimum.at(cost, (owner, site), 1.0 - scores[owner, cand])
        matches, _, _ = assign(cost, max_cost=1.0 - self.cfg.motion.min_score)
        for r, c in matches:
            j = np.flatnonzero((owner == r) & (site == c))
            j = j[np.argmax(scores[r, cand[j]])]
            found[r], where[r] = True, pts[j]
        return found, where

    def corrected_boxes(self) -> np.ndarray:
        """Each track's predicted box, moved onto its motion measurement where it has one."""
        pred = self.predicted_boxes()
        has = ~np.isnan(self.motion[:, 0])
        pred[has] = _centred(self.motion[has], pred[has, 2:] - pred[has, :2])
        return pred

    def prompts(self) -> Prompts:
        if self._prompts is not None:
            return self._prompts
        if not len(self):
            self._prompts = Prompts(np.zeros(0, np.int64), np.zeros((0, 4)))
            return self._prompts
        pred = self.predicted_boxes()
        w, h = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1]
        tentative = self.status == TENTATIVE
        k = np.where(tentative, self.cfg.tentative_k_sigma, self.cfg.k_sigma)
        margin = np.where(tentative, self.cfg.tentative_min_margin, self.cfg.min_margin)
        sx = k * np.sqrt(self.cov[:, 0, 0]) + margin
        sy = k * np.sqrt(self.cov[:, 1, 1]) + margin
        young = self.n_obs == 1  # no velocity yet: search around the last box
        sx = np.where(young, np.maximum(sx, self.cfg.new_track_margin * w), sx)
        sy = np.where(young, np.maximum(sy, self.cfg.new_track_margin * h), sy)
        # measured motion: the object's box (the user's size where known) where it was found
        moved = ~np.isnan(self.motion[:, 0])
        wh = np.where(np.isnan(self.size), np.c_[w, h], self.size)
        sx = np.where(moved, (0.5 + self.cfg.motion_margin) * wh[:, 0] + self.cfg.min_margin, sx + w / 2)
        sy = np.where(moved, (0.5 + self.cfg.motion_margin) * wh[:, 1] + self.cfg.min_margin, sy + h / 2)
        c = np.where(moved[:, None], self.motion, (pred[:, :2] + pred[:, 2:]) / 2)
        boxes = np.stack([c[:, 0] - sx, c[:, 1] - sy, c[:, 0] + sx, c[:, 1] + sy], 1)
        boxes[self.has_given] = self.given[self.has_given]
        # an object coming in: the part inside reaches the edge its user's box was given at,
        # wherever the motion measurement put the track (a template follows the part first
        # seen, the object's front, inwards)
        coming = np.flatnonzero(self.entering & ~self.has_given)
        if len(coming):
            edge = np.array([0.0, 0.0, self.width, self.height])
            boxes[coming] = np.where(self._edge_sides(self.given[coming]), edge, boxes[coming])
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

        measured, source, rejected, raw = self._measure(masks, scores, offsets, prompts)
        if self.cfg.reference_radius > 0 and self._gray is not None:
            self._hold_to_reference(measured, source)
        merged = self._merge_parts(raw, scores, measured, source, prompts)
        ok = source != NONE

        # measured: first measurement initiates, later ones update the filter
        first = ok & (self.n_obs == 0)
        later = ok & (self.n_obs > 0)
        if first.any():
            self.mean[first], self.cov[first] = self.kf.initiate(measured[first])
        if later.any():
            z = xyxy_to_cxcywh(measured[later])
            before = self.mean[later, :2].copy()
            self.mean[later], self.cov[later] = self.kf.update(self.mean[later], self.cov[later], z)
            # a motion measurement holds no extent (its box has the prediction's size), so it
            # could never correct the size's velocity, and the box would grow or shrink by it
            # frame after frame (a car's box reached 396 x 172 px after 60 frames of a real
            # clip): objects seen from orbit keep their size, and it stops until a mask measures it
            by_motion = np.flatnonzero(later)[np.isin(source[later], (TEMPLATE, DETECTION))]
            self.mean[by_motion, 6:8] = 0.0
            # the second measurement gives the velocity at once (two-point start): the filter's
            # prior of no motion would take several frames to learn a car's 10 px a frame
            second = self.n_obs[later] == 1
            if second.any():
                k = np.flatnonzero(later)[second]
                self.mean[k, 4:6] = (z[second, :2] - before[second]) / (self.misses[k, None] + 1)
                self.mean[k, 6:8] = 0.0
                r = self.kf.measurement_noise(self.mean[k])
                self.cov[k, 4:8, :] = 0.0
                self.cov[k, :, 4:8] = 0.0
                self.cov[k, 4:8, 4:8] = 2 * r
        unsized = ok & np.isnan(self.ref_area) & (source == MASK)
        self.ref_area[unsized] = np.prod(measured[unsized, 2:] - measured[unsized, :2], axis=1)
        # the user's convention around the object: their box less the first mask that measured it
        first_mask = (source == MASK) & ~np.isnan(self.size[:, 0]) & np.isnan(self.pad[:, 0])
        self.pad[first_mask] = np.maximum(self.size[first_mask] - (measured[first_mask, 2:] - measured[first_mask, :2]), 0) / 2
        self.n_obs[ok] += 1
        self.unsupported[ok] = np.where(source[ok] == TEMPLATE, self.unsupported[ok] + 1, 0)
        # a tentative track is confirmed by moving evidence only: a parked look-alike or moving
        # texture gives plausible masks, not detections that follow one motion frame after frame
        supported = ok & ((self.status != TENTATIVE) | (self.motion_src == DETECTION) | self.parts | self._mask_only)
        self.hits[supported] += 1
        self.misses[ok] = 0
        self.status[ok & (self.status == LOST)] = CONFIRMED
        # ... and by an object that moved: a flickering roof or a building's parallax gives
        # detections at one place; a car that comes to a stop keeps its confirmed track
        centre = (measured[:, :2] + measured[:, 2:]) / 2
        start = ok & np.isnan(self.origin[:, 0])
        self.origin[start] = centre[start]
        moved = np.linalg.norm(centre - self.origin, axis=1) >= self.cfg.confirm_min_shift
        self.status[ok & (self.status == TENTATIVE) & (self.hits >= self.cfg.n_init) & moved] = CONFIRMED

        # missed: a given (user) box still counts as the first observation; tentative tracks end
        miss = ~ok
        given_first = miss & (self.n_obs == 0) & (self.status == CONFIRMED)
        if given_first.any():
            self.mean[given_first], self.cov[given_first] = self.kf.initiate(self.given[given_first])
            self.n_obs[given_first] = 1
        self.misses[miss] += 1
        self.status[miss & (self.status == CONFIRMED)] = LOST
        remove = (miss & (self.status == TENTATIVE)) | (self.misses > self.cfg.max_age)
        remove |= (self.status == TENTATIVE) & ~supported & (self.n_obs > 1)
        remove |= merged

        result = self._result(ok & (self.status == CONFIRMED), measured, scores, source)
        result.rejected = rejected
        # tentative tracks measured now: reported later if they are confirmed (the run's look-back)
        result.pending = self._result(ok & (self.status == TENTATIVE) & ~remove, measured, scores, source)
        self.has_given[:] = False
        self._keep(~remove)
        result.live = int((self.status != LOST).sum())
        self._prompts = None
        return result

    def _result(self, rows: np.ndarray, measured: np.ndarray, scores: np.ndarray, source: np.ndarray) -> TrackResult:
        idx = np.flatnonzero(rows)
        boxes = measured[idx].copy()
        # the user's convention: a mask's box with the user's margin around it; a box measured
        # by motion (no extent) has the user's size, centred on the object
        sized = ~np.isnan(self.size[idx, 0])
        by_mask = sized & (source[idx] == MASK)
        boxes[by_mask] += np.c_[-self.pad[idx[by_mask]], self.pad[idx[by_mask]]]
        by_motion = sized & ~by_mask
        boxes[by_motion] = _centred((boxes[by_motion, :2] + boxes[by_motion, 2:]) / 2, self.size[idx[by_motion]])
        return TrackResult(self.ids[idx].copy(), boxes, scores[idx], self.classes[idx].copy(), idx, sources=source[idx])

    def _hold_to_reference(self, measured: np.ndarray, source: np.ndarray) -> None:
        """A small user's object whose box is its own (no margin): its patch in the frame the
        user gave it, where the box put it exactly, is found again within ``reference_radius``
        of each later measurement, and the measurement moves there. Each frame's template is
        the last frame's patch at the filter's box, so an error of a pixel (a mask or a blob
        holding the car's cast shadow) is carried into the next template and grows; the first
        patch carries none (the template update problem)."""
        cfg = self.cfg
        small = (np.nan_to_num(self.size, nan=np.inf).max(axis=1) < cfg.mask_min_size) & ~self.entering
        # the patch's size: the user's box at the template's size (as ``match_templates`` cuts it)
        side = np.maximum(np.round(np.nan_to_num(self.size)).astype(int) | 1, cfg.motion.min_template)
        for i in np.flatnonzero(small & self.has_given & np.isnan(self.ref_patch[:, 0, 0])):
            tw, th = side[i]
            g = self.given[i]
            patch = cut_patch(self._gray, (g[:2] + g[2:]) / 2, int(tw), int(th))
            if patch is not None and max(tw, th) <= REF_PATCH:
                self.ref_patch[i, :th, :tw] = patch
        # a box with a margin (its first mask found one) holds ground and neighbours, which the
        # object leaves behind: only the object's own box is its reference
        own = np.nan_to_num(self.pad, nan=np.inf).max(axis=1) <= cfg.reference_margin
        rows = small & own & (self.n_obs > 0) & (source != NONE) & ~np.isnan(self.ref_patch[:, 0, 0])
        for i in np.flatnonzero(rows):
            tw, th = side[i]
            centre = (measured[i, :2] + measured[i, 2:]) / 2
            found, score = find_near(self._gray, self.ref_patch[i, :th, :tw], centre, cfg.reference_radius)
            # under half a pixel is the correlation's own error, not the measurement's
            if score >= cfg.reference_score and np.abs(found - centre).max() >= 0.5:
                measured[i] += np.tile(found - centre, 2)

    @property
    def _mask_only(self) -> bool:
        """No motion measurement of any kind this frame (the tracker is fed masks alone)."""
        return self._gray is None

    def _measure(self, masks, scores, offsets, prompts) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray]:
        """Each track's measured box this frame and where it came from: its mask where the mask
        passes the gate, agrees with the motion measurement and the object is large enough for
        a mask to help; else the motion measurement; else nothing. Also every mask's own box
        (NaN where empty), used or not."""
        n = len(prompts)
        cfg = self.cfg
        pred = self.predicted_boxes()
        corrected = self.corrected_boxes()
        measured = np.full((n, 4), np.nan)
        raw = np.full((n, 4), np.nan)  # every mask's box, used or not
        source = np.full(n, NONE, np.int64)
        rejected = {}
        # a mask filling the prompt is a leak only where the prompt leaves room around the
        # predicted box: with a tight prompt, a good mask fills it too
        room = np.minimum(corrected[:, :2] - prompts.boxes[:, :2], prompts.boxes[:, 2:] - corrected[:, 2:]).min(axis=1)
        roomy = room > 2 * cfg.gate.leak_margin
        moved = ~np.isnan(self.motion[:, 0])
        wh = pred[:, 2:] - pred[:, :2]
        known = np.where(np.isnan(self.size), wh, self.size)
        places = (corrected[:, :2] + corrected[:, 2:]) / 2  # where each track's object is now
        longer = known.max(axis=1)
        # with motion measured, an object too small for a mask to add anything is measured by motion
        small = (longer < cfg.mask_min_size) & (not self._mask_only)
        user = self.has_given & ~np.isnan(self.size[:, 0])  # a user's box, given in this frame
        # a small object the segmenter once measured confidently: its masks keep measuring it
        sized = ~np.isnan(self.size[:, 0])
        trusted = (sized & ~np.isnan(self.pad[:, 0])) | (~sized & ~np.isnan(self.ref_area))
        border = self._blind_border()
        for i in range(n):
            box = measurement_box(masks[i], offsets[i], prompts.boxes[i])
            if box is not None:
                raw[i] = box
            widened = not self.has_given[i] and roomy[i]
            reference = self.given[i] if self.has_given[i] else corrected[i]
            # an object coming in: its mask reaches the edge and grew no faster than it can come in
            # (not where the user's box or a blob measures it: they place a small object better)
            edges = (self._edge_axes(box[None], border)[0] if self.entering[i] and box is not None and not self.has_given[i]
                     else np.zeros(2, bool))
            across = edges & (self.motion_src[i] != DETECTION)
            # (a mask has no blind border: one that has not reached the edge has come in)
            at_edge = self.entering[i] and box is not None and self._at_edge(box[None])[0]
            growing = bool(across.any() and np.all(box[2:] - box[:2] <= self.size[i] + cfg.entering_growth))
            pixels = float(np.count_nonzero(masks[i])) if box is not None and sized[i] else np.nan  # users' objects only
            why = gate(box, scores[i], reference, prompts.boxes[i], widened, cfg.gate, self.ref_area[i], growing,
                       pixels, self.ref_pixels[i])
            if (why == "size changed" and not sized[i] and scores[i] >= cfg.small_mask_score
                    and (box[2:] - box[:2]).max() >= cfg.group_min_size):
                why = self._resize(i, box)
            elif why == "pixels changed" and scores[i] >= cfg.small_mask_score:
                why = self._repixel(i, pixels)
            else:
                self.alt_count[i] = 0
            if why is None and moved[i]:
                off = np.linalg.norm((box[:2] + box[2:]) / 2 - self.motion[i])
                if off > cfg.mask_max_shift * np.hypot(*wh[i]):
                    why = "off the motion measurement"
            if why is None and cfg.neighbour_size > 0 and self._holds_neighbour(i, masks[i], offsets[i], box, places, longer):
                why = "holds another track"
            if why is None and (not small[i] or scores[i] >= cfg.small_mask_score or trusted[i] or growing):
                measured[i] = box
                source[i] = MASK
                if sized[i] and (np.isnan(self.ref_pixels[i]) or growing):
                    self.ref_pixels[i] = pixels  # the whole object's (as much of it as has come in)
                # a large object coming in grows along the edge too, whatever placed it
                axes = np.ones(2, bool) if edges.any() and self.size[i].max() >= cfg.mask_min_size else across
                if growing or (axes.any() and at_edge):
                    # the part inside grew: the object is at least that long across the edge (or
                    # entering_growth longer, where the mask grew faster than objects come in)
                    grown = np.minimum(box[2:] - box[:2], self.size[i] + cfg.entering_growth)
                    self.size[i] = np.where(axes, np.maximum(self.size[i], grown), self.size[i])
                    self.ref_area[i] = np.prod(self.size[i])
                elif self.entering[i] and not at_edge:  # its mask is off the edge: it has come in
                    self.entering[i] = False
                continue
            if why is not None:
                rejected[int(self.ids[i])] = why
            if moved[i]:
                # the object's box (the filter's size) where motion found it
                measured[i] = _centred(self.motion[i][None], wh[i][None])[0]
                source[i] = self.motion_src[i]
            elif user[i]:
                measured[i] = self.given[i]  # the user's own box is where the object is
                source[i] = GIVEN
        return measured, source, rejected, raw

    def _holds_neighbour(self, i: int, mask, offset, box: np.ndarray, places: np.ndarray, longer: np.ndarray) -> bool:
        """Whether track ``i``'s mask (its box ``box``) covers the place of another confirmed
        track whose longer side is at least ``neighbour_size`` x track ``i``'s."""
        others = ((self.status == CONFIRMED) & np.all((places >= box[:2]) & (places < box[2:]), axis=1)
                  & (longer >= self.cfg.neighbour_size * longer[i]))
        others[i] = False
        if not others.any():
            return False
        mask = np.asarray(mask, bool)
        col = np.floor(places[others, 0] - offset[0]).astype(np.int64)
        row = np.floor(places[others, 1] - offset[1]).astype(np.int64)
        inside = (row >= 0) & (row < mask.shape[0]) & (col >= 0) & (col < mask.shape[1])
        return bool(mask[row[inside], col[inside]].any())

    def _agreed(self, i: int, value: float) -> bool:
        """One more frame of track ``i``'s confident masks measuring ``value`` (a box's area, a
        mask's pixels) against its reference: whether ``resize_frames`` frames in a row agree
        on it (within ``resize_tolerance``)."""
        if self.alt_count[i] > 0 and abs(value / self.alt_area[i] - 1) <= self.cfg.resize_tolerance:
            self.alt_count[i] += 1
        else:
            self.alt_area[i], self.alt_count[i] = value, 1
        if self.alt_count[i] < self.cfg.resize_frames:
            return False
        self.alt_count[i] = 0
        return True

    def _resize(self, i: int, box: np.ndarray) -> str | None:
        """A discovered track's confident mask, which passed every check of the gate but its
        size: once ``resize_frames`` such masks agree on a size it becomes the reference and the
        mask is good (None); until then "size changed"."""
        area = float(np.prod(box[2:] - box[:2]))
        if not self._agreed(i, area):
            return "size changed"
        self.ref_area[i] = area
        return None

    def _repixel(self, i: int, pixels: float) -> str | None:
        """The same for a user's object's pixels: a first mask that held a part of the object
        (an airplane's fuselage) does not keep out its later, whole masks for good."""
        if not self._agreed(i, pixels):
            return "pixels changed"
        self.ref_pixels[i] = pixels
        return None

    def _merge_parts(self, raw, scores, measured, source, prompts) -> np.ndarray:
        """Tentative tracks started on the moving edges of one large object (a train's
        couplings, an airplane's nose and tail): where a tentative track's mask is confident,
        large, and holds the places of other tentative tracks or is much larger than the blob
        it was prompted from, the track starts again as the mask's object and the tracks inside
        end. Returns the tracks that end."""
        cfg = self.cfg
        n = len(raw)
        ended = np.zeros(n, bool)
        wh = raw[:, 2:] - raw[:, :2]
        leaked = np.all(np.abs(raw - prompts.boxes) <= cfg.gate.leak_margin, axis=1)
        candidates = ((self.status == TENTATIVE) & ~np.isnan(raw[:, 0]) & (scores >= cfg.small_mask_score)
                      & (np.nan_to_num(wh).max(axis=1) >= cfg.mask_min_size) & ~leaked & (source != MASK))
        if not candidates.any():
            return ended
        pred = self.corrected_boxes()
        centres = (pred[:, :2] + pred[:, 2:]) / 2
        pred_area = np.prod(pred[:, 2:] - pred[:, :2], axis=1)
        for i in np.flatnonzero(candidates)[np.argsort(-np.prod(wh[candidates], axis=1))]:
            if ended[i]:
                continue
            inside = (self.status == TENTATIVE) & ~ended & np.all((centres >= raw[i, :2]) & (centres <= raw[i, 2:]), axis=1)
            inside[i] = False
            if not inside.any() and np.prod(wh[i]) < cfg.gate.max_area_ratio * pred_area[i]:
                continue
            ended |= inside
            self.origin[i] += (raw[i, :2] + raw[i, 2:]) / 2 - centres[i]  # the travel so far stays
            measured[i], source[i] = raw[i], MASK
            self.hits[i] = max(self.hits[i], self.hits[inside].max(initial=0))
            self.n_obs[i] = 0  # a new object: its filter starts again from the mask
            self.ref_area[i] = np.nan
        return ended

    def _keep(self, keep: np.ndarray) -> None:
        self.state.keep(keep)
        self._prompts = None

    def remove(self, ids) -> np.ndarray:
        """End the tracks with these ids now (a user's correction); returns the ids removed."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        gone = np.isin(self.ids, ids)
        removed = self.ids[gone].copy()
        self._keep(~gone)
        return removed


# the state's fields read and write as the tracker's own: ``self.ids``, ``self.mean``, ...
for _name in ("frame", "platform_shift", *TrackerState.PER_TRACK):
    setattr(MaskTracker, _name, _InState(_name))

"""``Pipeline(config).run(clip)``: decode, predict, segment, update, frame by frame.

A run over one clip is a ``Session`` whose whole state is an explicit ``RunState`` (saveable,
resumable, open to new prompts between frames). Decoding runs ahead on a background thread
with a bounded queue, so decode and compute overlap and memory stays bounded whatever the
clip's length.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from data.boxes import read_init_boxes
from data.masks import clip_to_box, filled_crop
from data.mot import CLASS_IDS, class_id, read_mot
from data.video import Frame, open_video
from trackers.tracker import check_boxes
from trackers import DiscoveryConfig, MaskTracker, MotionDiscovery, TrackerConfig, TrackResult
from trackers.discovery import PROMPTED_TRAIL

from .state import FrameResult, RunState, Stats

log = logging.getLogger(__name__)


@dataclass
class PipelineConfig:
    variant: str = "tiny"
    checkpoint: str | None = "default"  # "default": the embedded tiny weights
    device: str = "auto"
    init: str | None = None  # a file of frame,x1,y1,x2,y2[,class] rows
    init_gt: str | None = None  # a MOT / SAT-MTB ground truth: each id prompted at its first frame
    discover: bool | None = None  # None: discover when no init is given
    start: int = 1
    end: int | None = None
    classes: tuple[str, ...] | None = None  # with init_gt/init: only these classes
    share_windows: bool = True
    adaptive_zoom: bool = True  # small objects get smaller windows (zoomed up to x8); False: the paper's x2
    clip_to_prompt: bool = True  # drop mask pixels outside the prompt box (grown by 1 px)
    join_parts: bool = True  # discovering: a probing mask over tracks that move together may join them
    detect: bool = True  # associate the frame's moving-object blobs with the tracks (also with prompts)
    # discovering: a track confirmed at frame t is also reported in the frames before t where it
    # was tentative, up to this many frames back; results then come this many frames late ...
    lookback: int = 6
    # ... and a track slower than its own size over the detector's span (a car that came to a
    # stop, or the moving edge of a train not yet joined to it) this many (lookback at most)
    lookback_slow: int = 4
    batch_size: int = 16
    precision: str = "auto"  # "auto": bf16 autocast where the device has it natively; "bf16" or "float32"
    queue_size: int = 8
    on_decode_error: str = "skip"  # a frame that fails to decode: "skip" (tracks coast) or "raise"
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)

    def __post_init__(self):
        if self.init and self.init_gt:
            raise ValueError("give either init or init_gt, not both")
        if self.lookback < 0 or self.lookback_slow < 0:
            raise ValueError(f"lookback and lookback_slow must be 0 or more, got {self.lookback} and {self.lookback_slow}")
        if self.start < 1 or (self.end is not None and self.end < self.start):
            raise ValueError(f"need 1 <= start <= end, got start={self.start} end={self.end}")
        if self.classes:
            bad = [c for c in self.classes if c not in CLASS_IDS]
            if bad:
                raise ValueError(f"unknown classes {bad}; known: {', '.join(CLASS_IDS)}")

    @property
    def discovering(self) -> bool:
        return self.discover if self.discover is not None else not (self.init or self.init_gt)


def with_overrides(cfg: PipelineConfig, overrides: Iterable[str]) -> PipelineConfig:
    """``cfg`` with fields set from ``"path.to.field=value"`` strings (``tracker.max_age=20``,
    ``discovery.gap=3``, ``tracker.gate.min_iou=0.3``, ``lookback=4``): each value is read as
    the field's type (``true``/``false`` for flags, ``none`` where the field may be None). Every
    config on the path is rebuilt, so its own checks run. A ValueError names an unknown field
    (with the closest names) or a value that does not read."""
    for item in overrides:
        path, sep, text = item.partition("=")
        names = path.strip().split(".")
        if not sep or not all(names):
            raise ValueError(f"override {item!r}: expected FIELD=VALUE, e.g. tracker.max_age=20")
        cfg = _override(cfg, names, text.strip(), item)
    return cfg


def _override(obj, names: list[str], text: str, item: str):
    """``obj`` (a config dataclass) rebuilt with the field at the path ``names`` read from ``text``."""
    fields = {f.name: f for f in dataclasses.fields(obj)}
    name = names[0]
    if name not in fields:
        close = difflib.get_close_matches(name, fields, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"{type(obj).__name__} has {', '.join(fields)}"
        raise ValueError(f"override {item!r}: {type(obj).__name__} has no field {name!r}; {hint}")
    current = getattr(obj, name)
    if dataclasses.is_dataclass(current):
        if len(names) == 1:
            raise ValueError(f"override {item!r}: {name} is a section; set one of its fields ({name}.FIELD=VALUE)")
        return dataclasses.replace(obj, **{name: _override(current, names[1:], text, item)})
    if len(names) > 1:
        raise ValueError(f"override {item!r}: {name} is a value, not a section")
    annotation = str(fields[name].type)  # e.g. "float | None" (the module's annotations are strings)
    kind = _kind(current, annotation)
    if kind is None:
        raise ValueError(f"override {item!r}: {name} ({annotation}) is not a number, flag or name; "
                         "it has its own option")
    if text.lower() == "none":
        if "None" not in annotation:
            raise ValueError(f"override {item!r}: {name} cannot be none")
        return dataclasses.replace(obj, **{name: None})
    return dataclasses.replace(obj, **{name: _read_value(kind, text, item)})


def _kind(current, annotation: str) -> type | None:
    """The type a field's value is read as: its current value's, or where that is None the
    scalar named by its annotation; None for containers (``classes``)."""
    if current is not None:
        return type(current) if isinstance(current, (bool, int, float, str)) else None
    if any(c in annotation for c in ("tuple", "list", "dict")):
        return None
    return next((k for k in (bool, int, float, str) if k.__name__ in annotation), None)


_KIND_NAMES = {bool: "true or false", int: "whole number", float: "number"}


def _read_value(kind: type, text: str, item: str):
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"override {item!r}: {text!r} is not true or false")
        return text.lower() in ("true", "1")
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"override {item!r}: {text!r} is not a {_KIND_NAMES[kind]}") from None


def _init_schedule(cfg: PipelineConfig) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    wanted = {CLASS_IDS[c] for c in cfg.classes} if cfg.classes else None
    if cfg.init:
        sched = read_init_boxes(cfg.init)
    elif cfg.init_gt:
        first = read_mot(cfg.init_gt).first_appearances()
        sched = {f: (t.boxes, t.classes) for f, t in first.by_frame().items()}
    else:
        return {}
    if wanted is not None:
        sched = {f: (b[np.isin(c, list(wanted))], c[np.isin(c, list(wanted))]) for f, (b, c) in sched.items()}
    return {f: v for f, v in sched.items() if len(v[0])}


class _Reader(threading.Thread):
    """Decodes ahead into a bounded queue; errors travel through the queue."""

    _END = object()

    def __init__(self, stream, start: int, end: int | None, size: int):
        super().__init__(daemon=True, name="decode")
        self.stream = stream
        self.start_frame, self.end_frame = start, end
        self.q: queue.Queue = queue.Queue(maxsize=size)
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            for fr in self.stream.frames(self.start_frame):
                if self.stop.is_set() or (self.end_frame is not None and fr.number > self.end_frame):
                    break
                if fr.number < self.start_frame:
                    continue
                while not self.stop.is_set():
                    try:
                        self.q.put(fr, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as e:  # handed to the consumer
            self.q.put(e)
        finally:
            self.q.put(self._END)

    def frames(self, stats: Stats) -> Iterator[Frame]:
        while True:
            t0 = time.perf_counter()
            item = self.q.get()
            stats.seconds["decode_wait"] += time.perf_counter() - t0
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class Pipeline:
    """``model``: a built ``RosSam`` (default: built from the config). ``segmenter``: anything
    with ``BoxPredictor``'s ``predict(image, boxes) -> Prediction`` in place of the model (the
    baselines of ``benchmarks.baselines``); one whose ``box_only`` is true makes the run report
    each measured track's Kalman filter box, with the filled box as its mask."""

    def __init__(self, config: PipelineConfig | None = None, model=None, segmenter=None):
        from rossam import BoxPredictor, build_rossam, resolve_device

        self.cfg = config or PipelineConfig()
        self.device = resolve_device(self.cfg.device)
        if segmenter is not None:
            self.model, self.predictor = None, segmenter
        else:
            self.model = model if model is not None else build_rossam(self.cfg.variant, self.cfg.checkpoint)
            self.model.to(self.device)
            self.predictor = BoxPredictor(self.model, share_windows=self.cfg.share_windows,
                                          adaptive_zoom=self.cfg.adaptive_zoom, batch_size=self.cfg.batch_size,
                                          clip=self.cfg.clip_to_prompt, precision=self.cfg.precision)
        self.box_only = bool(getattr(self.predictor, "box_only", False))
        self.stats = Stats()
        self.stream = None

    def open(self, clip: str | Path):
        """Open the clip (errors here name the file) and return the stream."""
        self.stream = open_video(clip, on_error=self.cfg.on_decode_error)
        return self.stream

    @property
    def latency(self) -> int:
        """Frames between decoding a frame and yielding its result."""
        return self.cfg.lookback if self.cfg.discovering else 0

    def session(self, clip: str | Path, state: RunState | None = None) -> Session:
        """A run over ``clip`` (opened here unless ``open`` was called first), starting anew
        or from a saved ``state``."""
        stream, self.stream = (self.stream or self.open(clip)), None
        return Session(self, stream, state)

    def run(self, clip: str | Path) -> Iterator[FrameResult]:
        return self.session(clip).results()


class Session:
    """One run of a ``Pipeline`` over one clip. Everything it knows between two frames is in
    ``self.state`` (a ``RunState``): save it, or build a session on a loaded one to continue.

    Between two frames, ``add`` prompts new objects for the next frame and ``remove`` ends
    tracks by id; called from another thread while ``results`` runs, they wait for the frame
    in hand::

        session = pipeline.session("clip.avi")
        for result in session.results():
            if result.frame == 10:
                session.add([[100, 40, 112, 52]], ["car"])
    """

    def __init__(self, pipeline: Pipeline, stream, state: RunState | None = None):
        self.pipe, self.cfg, self.stream = pipeline, pipeline.cfg, stream
        self.state = state if state is not None else RunState()
        self.schedule = _init_schedule(self.cfg)
        self.tracker = MaskTracker(stream.size, dataclasses.replace(self.cfg.tracker, detection_pad=self.cfg.discovery.pad),
                                   self.state.tracker)
        # the detector runs to discover objects or to measure tracks (``detect``); a config
        # with ``discovery.enabled`` off has none
        enabled = self.cfg.discovery.enabled and (self.cfg.discovering or self.cfg.detect)
        trail = self.cfg.discovery.trail
        if trail is None:  # blobs that measure prompted tracks drop slow objects' trails
            trail = 0.0 if self.cfg.discovering else PROMPTED_TRAIL
        dcfg = dataclasses.replace(self.cfg.discovery, enabled=enabled, trail=trail)
        self.discovery = MotionDiscovery(dcfg, self.state.discovery)
        pipeline.stats = self.state.stats
        self._passes = pipeline.predictor.encoder_passes - self.state.stats.encoder_passes
        self.lock = threading.RLock()  # held while a frame is processed

    @property
    def next_frame(self) -> int:
        return max(self.cfg.start, self.state.frame + 1)

    # -- prompts from outside, between two frames ------------------------------------------
    def add(self, boxes, classes=None) -> np.ndarray:
        """Prompt new objects in the next frame (``next_frame``), as ``--init`` rows of that
        frame do. boxes: [N, 4] xyxy; classes: N names or class ids (default: none). Returns
        the ids their tracks will have."""
        with self.lock:
            return self._add(boxes, classes)

    def _add(self, boxes, classes) -> np.ndarray:
        boxes = check_boxes(boxes, "boxes")
        n = len(boxes)
        if classes is None:
            classes = np.full(n, -1, np.int64)
        else:
            classes = np.array([class_id(c) for c in np.asarray(classes, object).reshape(-1)], np.int64)
            if len(classes) != n:
                raise ValueError(f"classes: expected {n} (one per box), got {len(classes)}")
        ids = self.tracker.reserve(n)
        self.state.wait(ids, boxes, classes)
        return ids

    def remove(self, ids) -> np.ndarray:
        """End the tracks with these ids now; they are left out of the results not yet
        released. Returns the ids that were live (or waiting to start)."""
        with self.lock:
            return self._remove(np.asarray(ids, np.int64).reshape(-1))

    def _remove(self, ids: np.ndarray) -> np.ndarray:
        s = self.state
        waiting, _, _ = s.take_waiting(keep=~np.isin(s.waiting_ids, ids))
        removed = np.concatenate([self.tracker.remove(ids), waiting])
        for r in s.lookback:
            r.drop(ids)
        return np.unique(removed)

    # -- frames ------------------------------------------------------------------------------
    def results(self) -> Iterator[FrameResult]:
        """Decode from ``next_frame`` on (ahead, on a thread) and yield each frame's result in
        order, ``pipeline.latency`` frames after it was processed."""
        reader = _Reader(self.stream, self.next_frame, self.cfg.end, self.cfg.queue_size)
        reader.start()
        try:
            for fr in reader.frames(self.state.stats):
                yield from self.step(fr)
            yield from self.finish()
        finally:
            reader.stop.set()

    def finish(self) -> Iterator[FrameResult]:
        """The results still held back (at the end of the clip), each taken out of the state
        as it is yielded."""
        while True:
            with self.lock:
                if not self.state.lookback:
                    return
                r = self.state.lookback.pop(0)
            yield r

    def step(self, fr: Frame) -> list[FrameResult]:
        """Process one decoded frame; returns the results released by it (none while the
        look-back fills, then one)."""
        with self.lock:
            return self._step(fr)

    def _step(self, fr: Frame) -> list[FrameResult]:
        r = self._process(fr)
        s = self.state
        if not self.pipe.latency:
            return [r]
        ids = set(r.tracks.ids.tolist())
        slow = self._slow(ids)
        near = max(len(s.lookback) - min(self.cfg.lookback_slow, self.pipe.latency), 0)  # the held frames a slow track reaches
        for k, old in enumerate(s.lookback):
            old.take_pending(ids if k >= near else ids - slow)
        new = ids - s.reported
        s.reported |= ids
        if new - slow and s.lookback:
            self._extend_back(s.lookback, new - slow)
        if new & slow and s.lookback[near:]:
            self._extend_back(s.lookback[near:], new & slow)
        s.lookback.append(r)
        released = []
        while len(s.lookback) > self.pipe.latency:
            released.append(s.lookback.pop(0))
        return released

    def _process(self, fr: Frame) -> FrameResult:
        cfg, s, tracker, predictor = self.cfg, self.state, self.tracker, self.pipe.predictor
        stats = s.stats
        n = fr.number
        t0 = time.perf_counter()
        tracker.predict(n, fr.image)
        s.frame = n
        if n in self.schedule:  # numbered when they start
            boxes, classes = self.schedule[n]
            s.wait(np.full(len(boxes), -1), boxes, classes)
        if fr.image is None:  # failed to decode: every track coasts; prompts wait for a good frame
            stats.skipped += 1
            tracker.skip(n)
            return FrameResult(n, None, _empty(), [], np.zeros((0, 2), np.int64))
        if len(s.waiting_ids):
            ids, boxes, classes = s.take_waiting()
            tracker.add(boxes, classes, confirmed=True, ids=ids)
        t1 = time.perf_counter()
        if self.discovery.cfg.enabled:
            swept = tracker.swept_boxes(2 * self.discovery.cfg.gap)
            tracker.propose(self.discovery(fr.image, swept), new_tracks=cfg.discovering, span=self.discovery.cfg.gap)
        t2 = time.perf_counter()
        if cfg.discovering and cfg.join_parts:  # segmentation time: a probing mask per group
            self._join_parts(fr.image)
        prompts = tracker.prompts()
        pred = self._segment(fr.image, prompts.boxes)
        t3 = time.perf_counter()
        res = tracker.update(n, pred.masks, pred.iou, pred.offsets)
        masks, offsets = [pred.masks[k] for k in res.prompt_index], pred.offsets[res.prompt_index]
        pending = res.pending if res.pending is not None else _empty()
        pmasks, poffsets = [pred.masks[k] for k in pending.prompt_index], pred.offsets[pending.prompt_index]
        if self.pipe.box_only:  # report the filter's box (updated by this frame's measurement)
            size = self.stream.size
            row = {int(i): k for k, i in enumerate(tracker.ids)}
            state = tracker.predicted_boxes()
            res.boxes, masks, offsets = _filled(state[[row[int(i)] for i in res.ids]].reshape(-1, 4), size)
            pending.boxes, pmasks, poffsets = _filled(state[[row[int(i)] for i in pending.ids]].reshape(-1, 4), size)
        t4 = time.perf_counter()
        stats.seconds["track"] += (t1 - t0) + (t4 - t3)
        stats.seconds["discover"] += t2 - t1
        stats.seconds["segment"] += t3 - t2
        stats.frames += 1
        stats.prompts += len(prompts)
        stats.track_ids.update(int(i) for i in res.ids)
        stats.encoder_passes = predictor.encoder_passes - self._passes
        return FrameResult(n, fr.image, res, masks, offsets, len(prompts), len(pred.windows), pmasks,
                           poffsets.reshape(-1, 2))

    def _segment(self, image: np.ndarray, boxes: np.ndarray):
        """The predictor's masks for ``boxes``, clipped to them with ``clip_to_prompt`` (a
        ``BoxPredictor`` built here clips them itself; another segmenter may not)."""
        predictor = self.pipe.predictor
        pred = predictor.predict(image, boxes)
        if self.cfg.clip_to_prompt and not getattr(predictor, "clip", False):
            pred.masks = [clip_to_box(m, o, b) for m, o, b in zip(pred.masks, pred.offsets, boxes)]
        return pred

    def _join_parts(self, image: np.ndarray) -> None:
        """One probing mask over each group of discovered tracks that move together: where it
        is one confident object, the group becomes one track (``MaskTracker.join``)."""
        groups, boxes = self.tracker.co_moving(span=self.discovery.cfg.gap)
        if not groups:
            return
        pred = self._segment(image, boxes)
        ended = self.tracker.join(groups, pred.masks, pred.iou, pred.offsets, boxes)
        for r in self.state.lookback:
            r.drop(ended)

    def _slow(self, ids: set) -> set:
        """The tracks among ``ids`` slower than their own size over the detector's span."""
        tr = self.tracker
        return set(tr.ids[np.isin(tr.ids, list(ids)) & tr.slower_than_size(self.discovery.cfg.gap)].tolist())

    def _extend_back(self, held: list[FrameResult], ids: set) -> None:
        """Follow newly confirmed tracks back through the held frames before their first
        report (where discovery could not see them yet: it needs three frames): each object's
        patch matched in the frame before, around its place moved back by its velocity."""
        from trackers.motion import match_templates, to_gray

        mcfg = self.cfg.tracker.motion
        frames = [h for h in held if h.image is not None]
        # per track: (frame index, box, class) of its first two reports
        first: dict[int, list] = {}
        for k, h in enumerate(frames):
            for i, b, c in zip(h.tracks.ids.tolist(), h.tracks.boxes, h.tracks.classes.tolist()):
                if i in ids and len(first.setdefault(i, [])) < 2:
                    first[i].append((k, b, c))
        grays: dict[int, np.ndarray] = {}
        gray = lambda k: grays.setdefault(k, to_gray(frames[k].image))  # noqa: E731
        found: dict[int, list] = {}  # frame index -> [(track, box, score, class)]
        for i, recs in first.items():
            if len(recs) < 2 or recs[0][0] == 0:
                continue
            (ka, a, cls), (kb, b, _) = recs
            v = ((b[:2] + b[2:]) - (a[:2] + a[2:])) / 2 / (kb - ka)
            k, box = ka, a
            while k > 0:
                size = box[2:] - box[:2]
                centre = (box[:2] + box[2:]) / 2 - v
                radius = np.array([max(0.5 * np.hypot(*size), mcfg.min_search)])
                where, score = match_templates(gray(k), gray(k - 1), box[None], centre[None], radius, mcfg)
                if not np.isfinite(score[0, 0]) or score[0, 0] < mcfg.min_score:
                    break
                k -= 1
                box = np.r_[where[0, 0] - size / 2, where[0, 0] + size / 2]
                found.setdefault(k, []).append((i, box, float(score[0, 0]), cls))
        for k, objects in found.items():
            self._report_back(frames[k], objects)

    def _report_back(self, fr: FrameResult, objects: list) -> None:
        """Add ``objects`` [(track, box, score, class)] to a held frame's report, segmented in
        one call."""
        from trackers.tracker import TEMPLATE, TrackResult

        h, w = fr.image.shape[:2]
        boxes = np.clip(np.array([o[1] for o in objects], np.float64).reshape(-1, 4), 0, [w, h, w, h])
        keep = np.flatnonzero((boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1))
        if not len(keep):
            return
        boxes = boxes[keep]
        pred = self._segment(fr.image, boxes)
        fr.tracks.extend(TrackResult(np.array([objects[j][0] for j in keep]), boxes,
                                     np.array([objects[j][2] for j in keep]), np.array([objects[j][3] for j in keep]),
                                     np.full(len(keep), -1), sources=np.full(len(keep), TEMPLATE)))
        fr.masks = fr.masks + pred.masks
        fr.offsets = np.concatenate([fr.offsets.reshape(-1, 2), pred.offsets.reshape(-1, 2)])

def _filled(boxes: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Boxes clamped to the frame, as filled crops with their offsets."""
    h, w = size
    boxes = boxes.copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    crops = [filled_crop(b) for b in boxes]
    return boxes, [m for m, _ in crops], np.array([o for _, o in crops], np.int64).reshape(-1, 2)


def _empty() -> TrackResult:
    return TrackResult(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64),
                       np.zeros(0, np.int64))

"""A run's explicit state: ``RunState``, saved and loaded as one ``.npz`` of arrays with a JSON
header inside (no pickle), written atomically.

Between two frames everything a run knows is here: the tracker's tracks and filters with their
ids and id counter (``TrackerState``), discovery's frame history, prompts waiting for their
frame, the results held back for the look-back, the frame reached, the stats, and how far the
outputs were written. A session built on a loaded state continues exactly where the saved one
stopped.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trackers import TrackerState, TrackResult

FORMAT = 6  # bumped when the layout of a saved state changes (2: tracks keep their origin; 3: objects coming in;
#            4: discovered tracks take a new size their masks agree on; 5: a user's object's mask pixels;
#            6: a small user's object's first patch)


@dataclass
class FrameResult:
    frame: int
    image: np.ndarray | None  # None when the frame failed to decode
    tracks: TrackResult
    masks: list[np.ndarray]  # per reported track: boolean crop
    offsets: np.ndarray  # [N, 2] (x, y) of each crop
    prompts: int = 0
    windows: int = 0
    pending_masks: list[np.ndarray] = field(default_factory=list)  # per ``tracks.pending`` track
    pending_offsets: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))

    def take_pending(self, ids: set) -> None:
        """Report the tentative tracks of this frame whose ids are in ``ids`` (confirmed later)."""
        p = self.tracks.pending
        if p is None or not len(p):
            return
        take = np.isin(p.ids, list(ids))
        if not take.any():
            return
        rows, rest = np.flatnonzero(take), np.flatnonzero(~take)
        self.tracks.extend(p.select(rows))
        self.masks = self.masks + [self.pending_masks[k] for k in rows]
        self.offsets = np.concatenate([self.offsets.reshape(-1, 2), self.pending_offsets[rows]])
        self.tracks.pending = p.select(rest)
        self.pending_masks = [self.pending_masks[k] for k in rest]
        self.pending_offsets = self.pending_offsets[rest]

    def drop(self, ids) -> None:
        """Leave the tracks with these ids out of this frame's report (removed by the user)."""
        keep = ~np.isin(self.tracks.ids, list(ids))
        rows = np.flatnonzero(keep)
        pending = self.tracks.pending
        self.tracks = self.tracks.select(rows)
        self.masks = [self.masks[k] for k in rows]
        self.offsets = self.offsets.reshape(-1, 2)[rows]
        if pending is not None:
            rows = np.flatnonzero(~np.isin(pending.ids, list(ids)))
            self.tracks.pending = pending.select(rows)
            self.pending_masks = [self.pending_masks[k] for k in rows]
            self.pending_offsets = self.pending_offsets[rows]


@dataclass
class Stats:
    frames: int = 0
    skipped: int = 0
    seconds: dict = field(default_factory=lambda: {"decode_wait": 0.0, "discover": 0.0, "track": 0.0, "segment": 0.0})
    track_ids: set = field(default_factory=set)
    encoder_passes: int = 0
    prompts: int = 0


@dataclass
class RunState:
    tracker: TrackerState = field(default_factory=TrackerState)
    discovery: list[np.ndarray] = field(default_factory=list)  # discovery's grey frames, oldest first
    frame: int = 0  # the last frame processed (0: none yet)
    # prompts waiting to start: their ids (-1: numbered when they start), boxes and classes
    waiting_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    waiting_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    waiting_classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lookback: list[FrameResult] = field(default_factory=list)  # processed, not yet released
    reported: set = field(default_factory=set)  # ids reported in some frame (kept with a look-back)
    stats: Stats = field(default_factory=Stats)
    settings: dict = field(default_factory=dict)  # what a resume must match (the caller's)
    outputs: dict = field(default_factory=dict)  # how far the outputs were written (the caller's)

    # -- prompts waiting for their frame ----------------------------------------------------
    def wait(self, ids: np.ndarray, boxes: np.ndarray, classes: np.ndarray) -> None:
        """Queue prompts for the next frame that decodes (ids -1: numbered when they start)."""
        self.waiting_ids = np.concatenate([self.waiting_ids, np.asarray(ids, np.int64)])
        self.waiting_boxes = np.concatenate([self.waiting_boxes, np.asarray(boxes, np.float64).reshape(-1, 4)])
        self.waiting_classes = np.concatenate([self.waiting_classes, np.asarray(classes, np.int64)])

    def take_waiting(self, keep=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The waiting prompts (ids, boxes, classes), taken out of the queue; with ``keep``
        (boolean per prompt), those where it is true stay."""
        keep = np.zeros(len(self.waiting_ids), bool) if keep is None else np.asarray(keep, bool)
        out = self.waiting_ids[~keep], self.waiting_boxes[~keep], self.waiting_classes[~keep]
        self.waiting_ids, self.waiting_boxes, self.waiting_classes = (
            self.waiting_ids[keep], self.waiting_boxes[keep], self.waiting_classes[keep])
        return out

    # -- saving ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the state to ``path`` atomically (a temporary file, synced, then renamed): a
        crash while saving leaves the previous state whole."""
        path = Path(path)
        arrays = self.tracker.to_arrays("tracker.")
        for k, g in enumerate(self.discovery):
            arrays[f"discovery.{k}"] = g
        arrays.update({"waiting.ids": self.waiting_ids, "waiting.boxes": self.waiting_boxes,
                       "waiting.classes": self.waiting_classes})
        held = []
        for k, r in enumerate(self.lookback):
            held.append(_result_arrays(r, f"held.{k}.", arrays))
        s = self.stats
        meta = {
            "format": FORMAT, "frame": self.frame, "discovery": len(self.discovery), "held": held,
            "reported": sorted(int(i) for i in self.reported),
            "stats": {"frames": s.frames, "skipped": s.skipped, "seconds": s.seconds,
                      "track_ids": sorted(int(i) for i in s.track_ids), "encoder_passes": s.encoder_passes,
                      "prompts": s.prompts},
            "settings": self.settings, "outputs": self.outputs,
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            f.write(buf.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> RunState:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode())
        except FileNotFoundError:
            raise
        except Exception as e:
            raise ValueError(f"{path}: not a saved run state ({str(e).splitlines()[0][:120] or type(e).__name__})") from None
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: a run state of format {meta.get('format')}, this version reads {FORMAT}")
        st = meta["stats"]
        return cls(
            tracker=TrackerState.from_arrays(arrays, "tracker."),
            discovery=[arrays[f"discovery.{k}"] for k in range(meta["discovery"])],
            frame=int(meta["frame"]),
            waiting_ids=arrays["waiting.ids"], waiting_boxes=arrays["waiting.boxes"].reshape(-1, 4),
            waiting_classes=arrays["waiting.classes"],
            lookback=[_result_from(h, f"held.{k}.", arrays) for k, h in enumerate(meta["held"])],
            reported=set(meta["reported"]),
            stats=Stats(st["frames"], st["skipped"], st["seconds"], set(st["track_ids"]), st["encoder_passes"],
                        st["prompts"]),
            settings=meta["settings"], outputs=meta["outputs"],
        )


def differences(saved: dict, now: dict, prefix: str = "") -> list[str]:
    """'name: was X, now Y' for every entry of two settings dicts that differs (nested dicts
    are compared entry by entry)."""
    out = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: was {a!r}, now {b!r}")
    return out


def as_json(obj):
    """``obj`` as it reads back from JSON (tuples become lists), for comparing settings."""
    return json.loads(json.dumps(obj, default=str))


# -- a FrameResult as arrays ---------------------------------------------------------------
_TRACK_FIELDS = ("ids", "boxes", "scores", "classes", "prompt_index", "sources")


def _pack_masks(masks: list[np.ndarray], key: str, arrays: dict) -> None:
    arrays[key + "shapes"] = np.array([m.shape for m in masks], np.int64).reshape(-1, 2)
    arrays[key + "bits"] = np.concatenate([np.asarray(m, bool).ravel() for m in masks]) if masks else np.zeros(0, bool)


def _unpack_masks(key: str, arrays) -> list[np.ndarray]:
    shapes, bits = arrays[key + "shapes"], arrays[key + "bits"]
    out, at = [], 0
    for h, w in shapes:
        out.append(bits[at : at + h * w].reshape(h, w).copy())
        at += h * w
    return out


def _track_arrays(t: TrackResult, key: str, arrays: dict) -> dict:
    for name in _TRACK_FIELDS:
        arrays[key + name] = np.asarray(getattr(t, name))
    return {"live": int(t.live), "rejected": {str(k): v for k, v in t.rejected.items()}}


def _track_from(meta: dict, key: str, arrays) -> TrackResult:
    v = {name: arrays[key + name] for name in _TRACK_FIELDS}
    return TrackResult(v["ids"], v["boxes"].reshape(-1, 4), v["scores"], v["classes"], v["prompt_index"],
                       meta["live"], {int(k): r for k, r in meta["rejected"].items()}, v["sources"])


def _result_arrays(r: FrameResult, key: str, arrays: dict) -> dict:
    if r.image is not None:
        arrays[key + "image"] = r.image
    _pack_masks(r.masks, key + "masks.", arrays)
    _pack_masks(r.pending_masks, key + "pending_masks.", arrays)
    arrays[key + "offsets"] = np.asarray(r.offsets, np.int64).reshape(-1, 2)
    arrays[key + "pending_offsets"] = np.asarray(r.pending_offsets, np.int64).reshape(-1, 2)
    meta = {"frame": r.frame, "prompts": r.prompts, "windows": r.windows, "image": r.image is not None,
            "tracks": _track_arrays(r.tracks, key + "tracks.", arrays)}
    if r.tracks.pending is not None:
        meta["pending"] = _track_arrays(r.tracks.pending, key + "pending.", arrays)
    return meta


def _result_from(meta: dict, key: str, arrays) -> FrameResult:
    tracks = _track_from(meta["tracks"], key + "tracks.", arrays)
    if "pending" in meta:
        tracks.pending = _track_from(meta["pending"], key + "pending.", arrays)
    return FrameResult(meta["frame"], arrays[key + "image"] if meta["image"] else None, tracks,
                       _unpack_masks(key + "masks.", arrays), arrays[key + "offsets"], meta["prompts"],
                       meta["windows"], _unpack_masks(key + "pending_masks.", arrays), arrays[key + "pending_offsets"])


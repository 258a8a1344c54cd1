"""``TrackerState``: everything ``MaskTracker`` knows between two frames, as plain arrays.

The tracker keeps no other state: its configuration and Kalman matrices are fixed, and its
prompt cache is recomputed from this. So a tracker built on a saved state continues exactly
where the saved one stopped (``to_arrays`` / ``from_arrays`` give a flat dict of arrays for
``np.savez``; no pickle).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

TENTATIVE, CONFIRMED, LOST = 0, 1, 2
STATUS_NAMES = {TENTATIVE: "tentative", CONFIRMED: "confirmed", LOST: "lost"}
# where a measurement came from
NONE, MASK, TEMPLATE, DETECTION, GIVEN = 0, 1, 2, 3, 4
SOURCE_NAMES = {NONE: "none", MASK: "mask", TEMPLATE: "template", DETECTION: "detection", GIVEN: "given"}
# px: the side of a small user's object's first patch (its box at the template's size: under 16 px, odd)
REF_PATCH = 17


def _rows(dtype, *shape):
    return field(default_factory=lambda: np.zeros((0, *shape), dtype))


@dataclass
class TrackerState:
    """Per-track arrays (one row per live or lost track, in the same order) and the scalars of
    the tracker's clock and id counter."""

    ids: np.ndarray = _rows(np.int64)
    mean: np.ndarray = _rows(np.float64, 8)  # Kalman state cx, cy, w, h and their velocities
    cov: np.ndarray = _rows(np.float64, 8, 8)
    n_obs: np.ndarray = _rows(np.int64)  # measurements so far (0: only a given box)
    hits: np.ndarray = _rows(np.int64)  # tentative: frames with a detection; else: measured frames
    misses: np.ndarray = _rows(np.int64)
    status: np.ndarray = _rows(np.int64)  # TENTATIVE, CONFIRMED or LOST
    classes: np.ndarray = _rows(np.int64)
    given: np.ndarray = _rows(np.float64, 4)  # the box a new track is prompted with (user or discovered; the edge an object coming in shows from)
    has_given: np.ndarray = _rows(bool)
    ref_area: np.ndarray = _rows(np.float64)  # the object's size (NaN until known): see GateConfig
    size: np.ndarray = _rows(np.float64, 2)  # w, h of the user's box convention (NaN: report the measured box)
    pad: np.ndarray = _rows(np.float64, 2)  # px the user's box adds around the object's mask (NaN until a mask)
    motion: np.ndarray = _rows(np.float64, 2)  # this frame's motion-measured centre (NaN: none)
    motion_src: np.ndarray = _rows(np.int64)  # TEMPLATE or DETECTION (NONE: no measurement)
    parts: np.ndarray = _rows(bool)  # this frame: blobs much smaller than the object moved inside it
    unsupported: np.ndarray = _rows(np.int64)  # frames in a row measured by template matching alone
    origin: np.ndarray = _rows(np.float64, 2)  # the first measured centre, moved with the platform (NaN: none yet)
    entering: np.ndarray = _rows(bool)  # a user's box that holds only the part of an object coming in at the frame's edge
    alt_area: np.ndarray = _rows(np.float64)  # the box area (discovered) or pixels (a user's) its confident masks agree on against its reference (NaN: none)
    alt_count: np.ndarray = _rows(np.int64)  # ... frames in a row
    ref_patch: np.ndarray = _rows(np.float32, REF_PATCH, REF_PATCH)  # a small user's object: its grey patch in the frame it was given (top-left; NaN: none)
    ref_pixels: np.ndarray = _rows(np.float64)  # a user's object: its first accepted mask's pixels, or those its confident masks agreed on (NaN: none yet, or discovered)
    next_id: int = 1
    frame: int = 0  # the frame of the last predict (0: none yet)
    platform_shift: np.ndarray = field(default_factory=lambda: np.zeros(2))  # the last frame's (dx, dy)
    gray: np.ndarray | None = None  # the previous frame, grey float32 (template matching, registration)

    PER_TRACK = ("ids", "mean", "cov", "n_obs", "hits", "misses", "status", "classes", "given", "has_given",
                 "ref_area", "size", "pad", "motion", "motion_src", "parts", "unsupported", "origin", "entering",
                 "alt_area", "alt_count", "ref_pixels", "ref_patch")

    def __len__(self) -> int:
        return len(self.ids)

    def append(self, **rows) -> None:
        """New tracks: one array per field of ``PER_TRACK``, all of the same length."""
        missing = set(self.PER_TRACK) - set(rows)
        if missing:
            raise ValueError(f"append needs every per-track field; missing {sorted(missing)}")
        for name in self.PER_TRACK:
            old = getattr(self, name)
            setattr(self, name, np.concatenate([old, np.asarray(rows[name], old.dtype)]))

    def keep(self, rows: np.ndarray) -> None:
        """Keep the tracks where ``rows`` (boolean [N]) is true, in order."""
        for name in self.PER_TRACK:
            setattr(self, name, getattr(self, name)[rows])

    def to_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        out = {prefix + f.name: np.asarray(getattr(self, f.name)) for f in fields(self) if f.name != "gray"}
        if self.gray is not None:
            out[prefix + "gray"] = self.gray
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "") -> TrackerState:
        kw = {}
        for f in fields(cls):
            key = prefix + f.name
            if key not in arrays:
                if f.name == "gray":
                    continue
                raise ValueError(f"tracker state: no {key!r}")
            value = np.asarray(arrays[key])
            kw[f.name] = int(value) if f.name in ("next_id", "frame") else value.copy()
        state = cls(**kw)
        n = len(state.ids)
        bad = [name for name in cls.PER_TRACK if len(getattr(state, name)) != n]
        if bad:
            raise ValueError(f"tracker state: {', '.join(bad)} do not have one row per track ({n})")
        return state

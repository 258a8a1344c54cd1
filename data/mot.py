"""MOTChallenge and SAT-MTB track rows: ``frame,id,x,y,w,h,conf,...`` with frames from 1.

SAT-MTB writes ``frame,id,x,y,w,h,conf,class,subclass,...`` (class 0 car, 1 airplane, 2 ship,
3 train); MOTChallenge results write ``frame,id,x,y,w,h,conf,x,y,z`` (world coordinates, -1) and
its ground truth ``frame,id,x,y,w,h,flag,class,visibility``. Column 8 (0-based 7) is read as the
class where it is a non-negative integer, else the class is -1 (unknown); in rows of exactly 9
columns (MOTChallenge's ground truth, whose class 1 is a pedestrian, or a car where a satellite
clip is written in its layout) it is not this project's class and reads as -1. Inside the code
boxes are xyxy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CLASS_NAMES = {0: "car", 1: "airplane", 2: "ship", 3: "train"}
CLASS_IDS = {v: k for k, v in CLASS_NAMES.items()}


def class_id(c) -> int:
    """A class given by name or id as its id; None, "" and -1 mean none given (-1)."""
    if c is None or c == "":
        return -1
    if isinstance(c, str):
        if c not in CLASS_IDS:
            raise ValueError(f"unknown class {c!r}; known: {', '.join(CLASS_IDS)}")
        return CLASS_IDS[c]
    return int(c)


class MotFormatError(ValueError):
    """A malformed row; the message starts with ``file:line``."""


@dataclass
class Tracks:
    """Rows of a track file, as arrays sorted by (frame, id)."""

    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # xyxy
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.frames)

    def select(self, keep) -> "Tracks":
        return Tracks(self.frames[keep], self.ids[keep], self.boxes[keep], self.scores[keep], self.classes[keep])

    def frame(self, n: int) -> "Tracks":
        lo, hi = np.searchsorted(self.frames, [n, n + 1])
        return self.select(slice(lo, hi))

    def by_frame(self) -> dict[int, "Tracks"]:
        out = {}
        if not len(self):
            return out
        starts = np.flatnonzero(np.r_[True, self.frames[1:] != self.frames[:-1]])
        ends = np.r_[starts[1:], len(self)]
        for s, e in zip(starts, ends):
            out[int(self.frames[s])] = self.select(slice(s, e))
        return out

    def first_appearances(self) -> "Tracks":
        """Each id's first row (the benchmark protocol prompts each id there)."""
        _, first = np.unique(self.ids, return_index=True)
        order = np.sort(first)
        return self.select(order)

    @staticmethod
    def concat(parts: list["Tracks"]) -> "Tracks":
        if not parts:
            return Tracks()
        t = Tracks(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("frames", "ids", "boxes", "scores", "classes")))
        order = np.lexsort((t.ids, t.frames))
        return t.select(order)


def read_mot(path: str | Path, allow_duplicates: bool = False) -> Tracks:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such track file")
    rows, lines = [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            cells = [c for c in text.replace("\t", ",").replace(" ", ",").split(",") if c != ""]
            if len(cells) < 6:
                raise MotFormatError(f"{path}:{n}: expected at least 6 columns (frame,id,x,y,w,h), got {len(cells)}")
            try:
                vals = [float(c) for c in cells]
            except ValueError:
                raise MotFormatError(f"{path}:{n}: non-numeric value in {text!r}") from None
            if not all(np.isfinite(vals[:6])):
                raise MotFormatError(f"{path}:{n}: non-finite value in {text!r}")
            frame, tid, x, y, w, h = vals[:6]
            if frame < 1 or frame != int(frame):
                raise MotFormatError(f"{path}:{n}: frame must be an integer >= 1, got {cells[0]}")
            if tid != int(tid):
                raise MotFormatError(f"{path}:{n}: id must be an integer, got {cells[1]}")
            if w <= 0 or h <= 0:
                raise MotFormatError(f"{path}:{n}: box width and height must be positive, got w={cells[4]} h={cells[5]}")
            conf = vals[6] if len(vals) > 6 else 1.0
            own = len(vals) > 7 and len(vals) != 9 and vals[7] >= 0 and vals[7] == int(vals[7])
            cls = int(vals[7]) if own else -1
            rows.append((int(frame), int(tid), x, y, x + w, y + h, conf, cls))
            lines.append(n)
    if not rows:
        return Tracks()
    arr = np.array(rows, dtype=np.float64)
    order = np.lexsort((arr[:, 1], arr[:, 0]))
    arr = arr[order]
    lines = np.asarray(lines)[order]
    dup = np.flatnonzero((arr[1:, 0] == arr[:-1, 0]) & (arr[1:, 1] == arr[:-1, 1]))
    if dup.size and not allow_duplicates:
        i = dup[0]
        raise MotFormatError(
            f"{path}:{lines[i + 1]}: duplicate id {int(arr[i, 1])} in frame {int(arr[i, 0])} (also line {lines[i]})"
        )
    return Tracks(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2:6].copy(), arr[:, 6].copy(),
                  arr[:, 7].astype(np.int64))


def format_rows(t: Tracks) -> list[str]:
    """``frame,id,x,y,w,h,score,class,-1,-1`` rows (the project's output form)."""
    out = []
    for f, i, b, s, c in zip(t.frames, t.ids, t.boxes, t.scores, t.classes):
        out.append(f"{int(f)},{int(i)},{b[0]:.2f},{b[1]:.2f},{b[2] - b[0]:.2f},{b[3] - b[1]:.2f},{s:.4f},{int(c)},-1,-1")
    return out


def write_mot(path: str | Path, t: Tracks) -> None:
    """Atomic write (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(r + "\n" for r in format_rows(t)))
    tmp.replace(path)

"""Where a run's results go: tracks.txt, masks.jsonl, the overlay video, summary.json.

``tracks.txt`` and ``masks.jsonl`` are written in place, one whole frame per write, so what a
crash leaves is readable up to its last whole frame; ``summary.json`` (``complete``) says
whether the run finished. A resumed run cuts them back to the lengths its saved state records
and appends. The overlay video is written under a temporary name and renamed when the run
closes; a resumed run writes the frames from where it resumed to ``overlay_from_<frame>``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from data.mot import Tracks, format_rows
from data.overlay import draw
from trackers.tracker import SOURCE_NAMES


class _FrameFile:
    """A text file written in place, one frame's text per ``os.write``; ``size``: bytes so far.
    ``resume_at``: keep the first so many bytes of the existing file and append after them."""

    def __init__(self, path: Path, resume_at: int | None = None):
        self.path = path
        if resume_at is None:
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            self.size = 0
            return
        have = path.stat().st_size if path.is_file() else None
        if have is None or have < resume_at:
            what = "is missing" if have is None else f"has {have} bytes"
            raise ValueError(f"{path}: {what}, the saved state needs its first {resume_at}: it was changed since")
        os.truncate(path, resume_at)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self.size = resume_at

    def write(self, text: str) -> None:
        data = text.encode()
        self.size += len(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


def encode_rle(mask: np.ndarray, offset, frame_size) -> dict:
    """COCO RLE of a crop mask (top-left at ``offset``, x y) pasted into the full frame; what
    lies outside the frame is left out. The runs are counted over the columns the crop spans
    only (COCO's runs go down each column in turn): a frame of zeros per mask is not needed."""
    h, w = frame_size
    m = np.asarray(mask).astype(bool)
    x, y = int(offset[0]), int(offset[1])
    m = m[max(-y, 0) : max(h - y, 0), max(-x, 0) : max(w - x, 0)]
    x, y = max(x, 0), max(y, 0)
    ch, cw = m.shape
    if m.size == 0:
        runs = [h * w]
    else:
        cols = np.zeros((cw, h), np.uint8)  # the spanned columns, whole, one per row
        cols[:, y : y + ch] = m.T
        flat = cols.ravel()
        runs = np.diff(np.r_[0, np.flatnonzero(np.diff(flat)) + 1, flat.size]).tolist()
        if flat[0]:
            runs.insert(0, 0)  # the runs start with zeros
        runs[0] += x * h  # the columns before the crop's
        after = (w - x - cw) * h  # ... and after it
        if not flat[-1]:
            runs[-1] += after
        elif after:
            runs.append(after)
    rle = mask_utils.frPyObjects({"counts": runs, "size": [h, w]}, h, w)
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


class Sinks:
    """resume: the ``position()`` a saved state recorded; the outputs continue from there."""

    def __init__(self, out: Path, frame_size, fps: float, overlay: str | None = "mp4", resume: dict | None = None):
        self.out = out
        self.frame_size = frame_size
        self.frames = resume["frames"] if resume else 0
        self.last = resume["last"] if resume else None
        self.tracks = _FrameFile(out / "tracks.txt", resume["tracks.txt"] if resume else None)
        self.masks = _FrameFile(out / "masks.jsonl", resume["masks.jsonl"] if resume else None)
        self.video = None
        self.video_path = None
        if overlay:
            for stale in out.glob(".overlay*.tmp*"):  # left by a run that was killed
                stale.unlink()
            h, w = frame_size
            name = "overlay" if not resume else f"overlay_from_{(self.last or 0) + 1:06d}"
            fourcc, suffix = ("mp4v", ".mp4") if overlay == "mp4" else ("MJPG", ".avi")
            self.video_path = out / f"{name}{suffix}"
            self.video_tmp = out / f".{name}.tmp{suffix}"
            self.video = cv2.VideoWriter(str(self.video_tmp), cv2.VideoWriter_fourcc(*fourcc), fps or 10.0, (w, h))
            if not self.video.isOpened():  # no MPEG-4 encoder: fall back to MJPG
                self.video_path = out / f"{name}.avi"
                self.video_tmp = out / f".{name}.tmp.avi"
                self.video = cv2.VideoWriter(str(self.video_tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps or 10.0, (w, h))

    def write(self, frame: int, image, result, masks, offsets) -> None:
        n = len(result)
        t = Tracks(np.full(n, frame), result.ids, result.boxes, result.scores, result.classes)
        self.tracks.write("".join(row + "\n" for row in format_rows(t)))
        objects = [
            {"id": int(i), "score": round(float(s), 4), "class": int(c), "source": SOURCE_NAMES[int(src)],
             "rle": encode_rle(m, o, self.frame_size)}
            for i, s, c, src, m, o in zip(result.ids, result.scores, result.classes, result.sources, masks, offsets)
        ]
        self.masks.write(json.dumps({"frame": frame, "objects": objects}) + "\n")
        if self.video is not None and image is not None:
            vis = draw(image, masks, offsets, result.boxes, result.ids)
            self.video.write(np.ascontiguousarray(vis[..., ::-1]))
        self.frames += 1
        self.last = frame

    def position(self) -> dict:
        """How far the outputs are written, synced to disk: what a saved state records."""
        self.tracks.sync()
        self.masks.sync()
        return {"frames": self.frames, "last": self.last, "tracks.txt": self.tracks.size, "masks.jsonl": self.masks.size}

    def close(self) -> list[Path]:
        self.tracks.close()
        self.masks.close()
        paths = [self.tracks.path, self.masks.path]
        if self.video is not None:
            self.video.release()
            os.replace(self.video_tmp, self.video_path)
            paths.append(self.video_path)
        return paths


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)

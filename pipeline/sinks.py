"""Where a run's results go: tracks.txt, masks.jsonl, the overlay video, summary.json.

Every file is written under a temporary name and renamed when the run closes (also after an
interruption, with what was done), so no file that looks complete is ever half written.
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


class _TempFile:
    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.f = open(self.tmp, "w")

    def write(self, text: str) -> None:
        self.f.write(text)

    def close(self) -> None:
        self.f.close()
        os.replace(self.tmp, self.path)


def encode_rle(mask: np.ndarray, offset, frame_size) -> dict:
    """COCO RLE of a crop mask pasted into the full frame."""
    h, w = frame_size
    full = np.zeros((h, w), np.uint8, order="F")
    x, y = int(offset[0]), int(offset[1])
    full[y : y + mask.shape[0], x : x + mask.shape[1]] = mask
    rle = mask_utils.encode(full)
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


class Sinks:
    def __init__(self, out: Path, frame_size, fps: float, overlay: str | None = "mp4"):
        self.out = out
        self.frame_size = frame_size
        self.tracks = _TempFile(out / "tracks.txt")
        self.masks = _TempFile(out / "masks.jsonl")
        self.video = None
        self.video_path = None
        if overlay:
            h, w = frame_size
            fourcc, suffix = ("mp4v", ".mp4") if overlay == "mp4" else ("MJPG", ".avi")
            self.video_path = out / f"overlay{suffix}"
            self.video_tmp = out / f".overlay.tmp{suffix}"
            self.video = cv2.VideoWriter(str(self.video_tmp), cv2.VideoWriter_fourcc(*fourcc), fps or 10.0, (w, h))
            if not self.video.isOpened():  # no MPEG-4 encoder: fall back to MJPG
                self.video_path = out / "overlay.avi"
                self.video_tmp = out / ".overlay.tmp.avi"
                self.video = cv2.VideoWriter(str(self.video_tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps or 10.0, (w, h))

    def write(self, frame: int, image, result, masks, offsets) -> None:
        n = len(result)
        t = Tracks(np.full(n, frame), result.ids, result.boxes, result.scores, result.classes)
        for row in format_rows(t):
            self.tracks.write(row + "\n")
        objects = [
            {"id": int(i), "score": round(float(s), 4), "class": int(c), "source": SOURCE_NAMES[int(src)],
             "rle": encode_rle(m, o, self.frame_size)}
            for i, s, c, src, m, o in zip(result.ids, result.scores, result.classes, result.sources, masks, offsets)
        ]
        self.masks.write(json.dumps({"frame": frame, "objects": objects}) + "\n")
        if self.video is not None and image is not None:
            vis = draw(image, masks, offsets, result.boxes, result.ids)
            self.video.write(np.ascontiguousarray(vis[..., ::-1]))

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

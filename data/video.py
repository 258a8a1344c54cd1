"""Streaming video in: ``open_video(path)`` for video files and frame folders.

Frames come out one at a time, RGB uint8 [H, W, 3], with 1-based frame numbers.

Video files are decoded with OpenCV by default: its peak memory is flat over a clip (114 MB for
1000 frames of 1024 x 1024 against 113 MB for 100, measured with ``benchmarks.memory``), while
decord's reader grows with every frame decoded (318 MB against 142 MB, even when reopened or
trimmed). ``backend="decord"`` keeps decord for short clips and random access.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv", ".m4v"}
FRAME_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


class VideoError(ValueError):
    """A video or frame folder that cannot be read; the message names the file (and frame)."""


@dataclass
class Frame:
    number: int  # 1-based
    image: np.ndarray | None  # None for a frame that failed to decode, when skipping is allowed


class VideoStream:
    """Iterate to get ``Frame``s in order. ``length`` and ``fps`` are None where unknown.

    ``truncated``: set (when decoding errors are skipped) if the video stopped before the
    length its header declares: ``{"declared": frames, "stopped_at": the first frame that could
    not be decoded}``."""

    path: Path
    length: int | None
    fps: float | None
    size: tuple[int, int]  # (height, width)
    truncated: dict | None = None

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self, start: int = 1) -> Iterator[Frame]:  # pragma: no cover - interface
        """The frames from number ``start`` on (a resumed run); earlier ones are passed over
        without being converted."""
        raise NotImplementedError


def _check_video_file(path: Path) -> None:
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: the file is empty")


class OpenCVStream(VideoStream):
    """Sequential decoding with OpenCV: bounded memory whatever the length."""

    MAX_CONSECUTIVE_FAILURES = 25

    def __init__(self, path: Path, on_error: str = "raise"):
        self.path = path
        self.on_error = on_error
        _check_video_file(path)
        cap = cv2.VideoCapture(str(path))
        ok, first = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            raise VideoError(f"{path}: not a readable video (no frame could be decoded)")
        self.length = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) or None
        self.size = first.shape[:2]
        cap.release()

    def frames(self, start: int = 1) -> Iterator[Frame]:
        # Each read consumes one packet, decoded or not, so counting reads numbers the frames.
        # A failed read is held until a later read succeeds (a bad frame in the middle) or the
        # declared length is reached (the video stopped early): OpenCV's grab() fails on a
        # corrupt packet as it does at the end, so it cannot tell the two apart.
        cap = cv2.VideoCapture(str(self.path))
        n, failed = 0, []
        try:
            while n + 1 < start and (self.length is None or n < self.length):
                cap.grab()  # passed over: decoded (the codec needs it), not converted; one packet each
                n += 1
            while True:
                ok, img = cap.read()
                n += 1
                if ok:
                    for k in failed:
                        msg = f"{self.path}: frame {k} cannot be decoded"
                        if self.on_error == "raise":
                            raise VideoError(msg)
                        log.warning("%s; skipped", msg)
                        yield Frame(k, None)
                    failed = []
                    yield Frame(n, np.ascontiguousarray(img[..., ::-1]))
                    continue
                if self.length is None and len(failed) >= self.MAX_CONSECUTIVE_FAILURES:
                    break  # no declared length: this many failures in a row end the clip
                if self.length is not None and n > self.length:
                    break
                failed.append(n)
            if failed and self.length is not None:
                msg = (f"{self.path}: truncated: the header declares {self.length} frames, decoding fails at "
                       f"frame {failed[0]}")
                if self.on_error == "raise":
                    raise VideoError(msg)
                log.warning("%s; stopping", msg)
                self.truncated = {"declared": self.length, "stopped_at": failed[0]}
        finally:
            cap.release()


class DecordStream(VideoStream):
    def __init__(self, path: Path, chunk: int = 8, on_error: str = "raise"):
        import decord

        self.path = path
        self.chunk = chunk
        self.on_error = on_error
        _check_video_file(path)
        try:
            self._reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        except Exception as e:  # decord raises its own error types
            raise VideoError(f"{path}: not a readable video ({str(e).splitlines()[0][:200]})") from None
        self.length = len(self._reader)
        if self.length == 0:
            raise VideoError(f"{path}: the video has no frames")
        self.fps = float(self._reader.get_avg_fps()) or None
        declared = int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if declared > self.length:
            msg = (f"{path}: truncated: the header declares {declared} frames, decoding fails at frame "
                   f"{self.length + 1}")
            if on_error == "raise":
                raise VideoError(msg)
            log.warning("%s; reading the %d decodable frames", msg, self.length)
            self.truncated = {"declared": declared, "stopped_at": self.length + 1}
        self.size = self._first_shape()

    def _first_shape(self) -> tuple[int, int]:
        try:
            f = self._reader.get_batch([0]).asnumpy()
        except Exception as e:
            raise VideoError(f"{self.path}: frame 1 cannot be decoded ({str(e).splitlines()[0][:200]})") from None
        self._reader.seek(0)
        return f.shape[1], f.shape[2]

    def frames(self, start: int = 1) -> Iterator[Frame]:
        for first in range(max(start, 1) - 1, self.length, self.chunk):
            idx = list(range(first, min(first + self.chunk, self.length)))
            try:
                batch = self._reader.get_batch(idx).asnumpy()
            except Exception:
                batch = None
            if batch is not None:
                for k, i in enumerate(idx):
                    yield Frame(i + 1, batch[k])
                continue
            for i in idx:  # decode the failed chunk frame by frame to find the bad one(s)
                try:
                    image = self._reader.get_batch([i]).asnumpy()[0]
                except Exception as e:
                    msg = f"{self.path}: frame {i + 1} cannot be decoded ({str(e).splitlines()[0][:120]})"
                    if self.on_error == "raise":
                        raise VideoError(msg) from None
                    log.warning("%s; skipped", msg)
                    image = None
                yield Frame(i + 1, image)


_NUMBER = re.compile(r"(\d+)$")


class FolderStream(VideoStream):
    """A folder of numbered frames (``img/000001.png``, ``.jpg`` ...), in frame-number order."""

    def __init__(self, path: Path, on_error: str = "raise", fps: float | None = None):
        self.path = path
        self.on_error = on_error
        self.fps = fps
        files = {}
        for f in path.iterdir():
            m = _NUMBER.search(f.stem)
            if f.suffix.lower() in FRAME_SUFFIXES and m:
                n = int(m.group(1))
                if n in files:
                    raise VideoError(f"{path}: two files for frame {n}: {files[n].name} and {f.name}")
                files[n] = f
        if not files:
            raise VideoError(f"{path}: no numbered frame images ({', '.join(sorted(FRAME_SUFFIXES))})")
        self.first, self.last = min(files), max(files)
        self.files = files
        self.length = self.last - self.first + 1
        missing = [n for n in range(self.first, self.last + 1) if n not in files]
        if missing and on_error == "raise":
            raise VideoError(f"{path}: frame {missing[0]} is missing ({len(missing)} missing in all)")
        first = self._read(self.first)
        if first is None:
            raise VideoError(f"{files[self.first]}: not a readable image")
        self.size = first.shape[:2]

    def _read(self, n: int) -> np.ndarray | None:
        f = self.files.get(n)
        if f is None:
            return None
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        return None if img is None else np.ascontiguousarray(img[..., ::-1])

    def frames(self, start: int = 1) -> Iterator[Frame]:
        for n in range(max(self.first, start), self.last + 1):
            img = self._read(n)
            if img is None:
                what = "is missing" if n not in self.files else f"({self.files[n].name}) is not a readable image"
                msg = f"{self.path}: frame {n} {what}"
                if self.on_error == "raise":
                    raise VideoError(msg)
                log.warning("%s; skipped", msg)
            elif img.shape[:2] != self.size:
                raise VideoError(f"{self.files[n]}: frame size {img.shape[:2]} differs from the first frame's {self.size}")
            yield Frame(n, img)


def open_video(path: str | Path, on_error: str = "raise", backend: str = "opencv", chunk: int = 8) -> VideoStream:
    """Open a video file or a frame folder for streaming.

    on_error: ``"raise"`` (default) stops at a missing or undecodable frame with an error naming
    it; ``"skip"`` logs a warning and yields ``Frame(n, None)`` in its place.
    backend: ``"opencv"`` (default; bounded memory) or ``"decord"`` (chunked, grows with length).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if backend not in ("opencv", "decord"):
        raise ValueError(f"backend must be 'opencv' or 'decord', got {backend!r}")
    path = Path(path)
    if path.is_dir():
        img = path / "img"
        return FolderStream(img if img.is_dir() else path, on_error=on_error)
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise VideoError(f"{path}: not a video file (expected one of {', '.join(sorted(VIDEO_SUFFIXES))}) or a frame folder")
    if backend == "decord":
        return DecordStream(path, chunk=chunk, on_error=on_error)
    return OpenCVStream(path, on_error=on_error)

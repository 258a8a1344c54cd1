"""The clips and images under the paths a server was given, addressed by id, and their frames
decoded on demand.

An id is ``<root index>/<path under that root>`` (``0/harbour/clip.avi``); resolving an id
never leaves its root (``..`` and links out of it are refused).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.images import read_image
from data.video import _NUMBER, FRAME_SUFFIXES, VIDEO_SUFFIXES, VideoError, open_video

MAX_ITEMS = 2000  # a listing stops here (a root with a whole archive under it)


class OutsideRoots(PermissionError):
    """A path that is not under any served root."""


@dataclass
class Item:
    id: str
    kind: str  # "video", "frames" or "image"
    path: Path

    def describe(self) -> dict:
        out = {"id": self.id, "kind": self.kind, "name": self.id.split("/", 1)[1]}
        if self.kind == "image":
            w, h = _image_size(self.path)
            out.update(frames=1, first=1, last=1, width=w, height=h, fps=None)
        else:
            s = open_video(self.path, on_error="skip")
            first = getattr(s, "first", 1)
            out.update(frames=s.length, first=first, last=first + s.length - 1 if s.length else None,
                       width=s.size[1], height=s.size[0], fps=s.fps)
        return out


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header where Pillow reads it (a listing of many large
    images then decodes none of them), else from the decoded image."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return im.size
    except Exception:
        h, w = read_image(path).shape[:2]
        return w, h


def _is_frame_folder(d: Path) -> bool:
    """Two numbered images or more, their numbers mostly consecutive (a folder of scenes named
    by number, P0706.png, P1888.png, is a folder of images, not a clip)."""
    numbers = [int(_NUMBER.search(f.stem).group(1)) for f in d.iterdir()
               if f.suffix.lower() in FRAME_SUFFIXES and _NUMBER.search(f.stem)]
    return len(numbers) >= 2 and len(numbers) >= 0.5 * (max(numbers) - min(numbers) + 1)


class Library:
    def __init__(self, roots: list[str | Path]):
        self.roots = [Path(r).resolve() for r in roots]
        missing = [str(r) for r in self.roots if not r.exists()]
        if missing:
            raise FileNotFoundError(f"no such path: {', '.join(missing)}")

    def items(self) -> list[Item]:
        out: list[Item] = []
        for k, root in enumerate(self.roots):
            if root.is_file():
                kind = "video" if root.suffix.lower() in VIDEO_SUFFIXES else "image"
                out.append(Item(f"{k}/{root.name}", kind, root))
                continue
            self._walk(k, root, root, out)
        return out[:MAX_ITEMS]

    def _walk(self, k: int, root: Path, d: Path, out: list[Item]) -> None:
        if len(out) >= MAX_ITEMS:
            return
        rel = lambda p: f"{k}/{p.relative_to(root).as_posix()}" if p != root else f"{k}/."  # noqa: E731
        if (d / "img").is_dir() and _is_frame_folder(d / "img"):
            out.append(Item(rel(d), "frames", d))
            return
        if _is_frame_folder(d):
            out.append(Item(rel(d), "frames", d))
            return
        for p in sorted(d.iterdir()):
            if p.name.startswith("."):
                continue
            if p.is_dir():
                self._walk(k, root, p, out)
            elif p.suffix.lower() in VIDEO_SUFFIXES:
                out.append(Item(rel(p), "video", p))
            elif p.suffix.lower() in FRAME_SUFFIXES:
                out.append(Item(rel(p), "image", p))

    def resolve(self, item_id: str) -> Item:
        """The item with this id; ``OutsideRoots`` for a path that leaves its root,
        ``FileNotFoundError`` for one that is not there."""
        head, _, rest = str(item_id).partition("/")
        if not head.isdigit() or int(head) >= len(self.roots) or not rest:
            raise FileNotFoundError(f"no clip or image {item_id!r}")
        root = self.roots[int(head)]
        path = (root / rest).resolve() if root.is_dir() else root
        if root.is_file() and rest != root.name:
            raise FileNotFoundError(f"no clip or image {item_id!r}")
        if path != root and root not in path.parents:
            raise OutsideRoots(f"{item_id!r} is outside the served paths")
        if not path.exists():
            raise FileNotFoundError(f"no clip or image {item_id!r}")
        if path.is_dir():
            if not ((path / "img").is_dir() and _is_frame_folder(path / "img")) and not _is_frame_folder(path):
                raise FileNotFoundError(f"{item_id!r} is a folder without numbered frames")
            return Item(item_id, "frames", path)
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            return Item(item_id, "video", path)
        if suffix in FRAME_SUFFIXES:
            return Item(item_id, "image", path)
        raise FileNotFoundError(f"{item_id!r} is not a video, a frame folder or an image")


class Frames:
    """Frames of one item on demand. A video keeps one reader going forward (a frame behind it
    starts a new one) and the last ``keep`` frames; the clip is never held whole."""

    def __init__(self, item: Item, keep: int = 8):
        self.item = item
        self.keep = keep
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._reader = None
        self._at = 0  # the last frame the reader gave
        self._lock = threading.Lock()
        if item.kind != "image":
            self.stream = open_video(item.path, on_error="skip")

    def get(self, n: int) -> np.ndarray:
        if self.item.kind == "image":
            if n != 1:
                raise IndexError(f"{self.item.id} is one image: frame 1 only, not {n}")
            return read_image(self.item.path)
        with self._lock:
            if n in self._cache:
                self._cache.move_to_end(n)
                return self._cache[n]
            first = getattr(self.stream, "first", 1)
            last = getattr(self.stream, "last", self.stream.length)
            if n < first or (last and n > last):
                raise IndexError(f"{self.item.id} has frames {first} to {last}, not {n}")
            if self._reader is None or n <= self._at or n > self._at + 64:
                self._reader, self._at = self.stream.frames(n), n - 1
            for fr in self._reader:
                self._at = fr.number
                if fr.image is not None:
                    self._cache[fr.number] = fr.image
                    while len(self._cache) > self.keep:
                        self._cache.popitem(last=False)
                if fr.number >= n:
                    break
            if n not in self._cache:
                self._reader = None
                raise VideoError(f"{self.item.id}: frame {n} cannot be decoded")
            return self._cache[n]

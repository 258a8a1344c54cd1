"""Reading and writing single images (RGB uint8 at the boundary)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_image(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    return np.ascontiguousarray(img[..., ::-1])


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Atomic write of an RGB (or single-channel) image; the format follows the suffix."""
    path = Path(path)
    arr = image[..., ::-1] if image.ndim == 3 else image
    ok, buf = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(arr))
    if not ok:
        raise ValueError(f"{path}: could not encode image")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buf.tobytes())
    tmp.replace(path)

"""A user's initial boxes: one ``frame,x1,y1,x2,y2[,class]`` row per object (frames from 1).

The class is a name (car, airplane, ship, train) or its id; ``#`` starts a comment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .mot import CLASS_IDS, MotFormatError


def read_init_boxes(path: str | Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """frame -> (boxes [N, 4] xyxy, classes [N], -1 where not given)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such boxes file")
    out: dict[int, tuple[list, list]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#")[0].strip()
        if not text:
            continue
        cells = [c.strip() for c in text.split(",")]
        if len(cells) not in (5, 6):
            raise MotFormatError(f"{path}:{n}: expected frame,x1,y1,x2,y2[,class], got {len(cells)} columns")
        try:
            frame = int(cells[0])
            box = [float(c) for c in cells[1:5]]
        except ValueError:
            raise MotFormatError(f"{path}:{n}: expected numbers in {text!r}") from None
        if frame < 1:
            raise MotFormatError(f"{path}:{n}: frame must be >= 1, got {frame}")
        if not all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
            raise MotFormatError(f"{path}:{n}: box needs x2 > x1 and y2 > y1, got {box}")
        cls = -1
        if len(cells) == 6:
            c = cells[5].lower()
            if c in CLASS_IDS:
                cls = CLASS_IDS[c]
            elif c.lstrip("-").isdigit():
                cls = int(c)
            else:
                raise MotFormatError(f"{path}:{n}: unknown class {cells[5]!r} (known: {', '.join(CLASS_IDS)})")
        out.setdefault(frame, ([], []))
        out[frame][0].append(box)
        out[frame][1].append(cls)
    return {f: (np.array(b, np.float64), np.array(c, np.int64)) for f, (b, c) in out.items()}

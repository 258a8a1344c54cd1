"""SAT-MTB: per-frame segmentation files and the sequence layout.

A sequence folder holds ``img/000001.png``..., its MOT rows (``gt/gt.txt``, ``mot/<seq>`` or
``mot/<seq>.txt``) and ``seg/000001.json`` (COCO-like: polygons, ``bbox`` as xyxy, the coarse
class in ``supercategory``). The data set has holes (car sequences have no segmentation, some
train sequences no MOT): ``read_sequence`` reports what is missing instead of guessing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from .mot import CLASS_IDS, Tracks, read_mot

log = logging.getLogger(__name__)

FINE_TO_COARSE = {
    "WA": "airplane", "NA": "airplane", "RA": "airplane", "FA": "airplane", "CA": "airplane",
    "SB": "ship", "YH": "ship", "CS": "ship", "FH": "ship", "NV": "ship", "OS": "ship",
    "LC": "car", "SC": "car", "TN": "train",
}


class SegFormatError(ValueError):
    """A malformed segmentation file; the message names the file and the annotation."""


@dataclass
class SegObject:
    id: int
    category: str  # the fine class as written
    cls: int  # coarse class id (0 car, 1 airplane, 2 ship, 3 train; -1 unknown)
    box: np.ndarray  # xyxy
    mask: np.ndarray  # [H, W] bool


def _coarse(cat: dict) -> int:
    for key in ("supercategory", "name"):
        name = str(cat.get(key, "")).strip()
        low = name.lower()
        for coarse in CLASS_IDS:
            if coarse in low or (coarse == "airplane" and "aircraft" in low):
                return CLASS_IDS[coarse]
        if name.upper() in FINE_TO_COARSE:
            return CLASS_IDS[FINE_TO_COARSE[name.upper()]]
    return -1


def read_seg_json(path: str | Path) -> list[SegObject]:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such segmentation file") from None
    except json.JSONDecodeError as e:
        raise SegFormatError(f"{path}: not valid JSON ({e})") from None
    try:
        h, w = int(doc["images"][0]["height"]), int(doc["images"][0]["width"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise SegFormatError(f"{path}: images[0] needs height and width") from None
    cats = {c.get("id"): c for c in doc.get("categories", [])}
    out = []
    for k, ann in enumerate(doc.get("annotations", [])):
        where = f"{path}: annotation {k} (id {ann.get('id')})"
        polys = ann.get("segmentation")
        if not isinstance(polys, list) or not polys:
            raise SegFormatError(f"{where}: segmentation must be a non-empty list of polygons")
        polys = [p for p in polys if isinstance(p, list) and len(p) >= 6]
        if not polys:
            raise SegFormatError(f"{where}: no polygon with at least 3 points")
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
        mask = mask_utils.decode(rle).astype(bool)
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise SegFormatError(f"{where}: bbox must be [xmin, ymin, xmax, ymax]")
        cat = cats.get(ann.get("category_id"), {})
        out.append(SegObject(int(ann.get("id", k)), str(cat.get("name", "")), _coarse(cat),
                             np.asarray(bbox, np.float64), mask))
    return out


@dataclass
class Sequence:
    name: str
    path: Path
    frames: Path | None
    mot: Path | None
    seg: Path | None
    missing: list[str] = field(default_factory=list)

    def tracks(self) -> Tracks | None:
        return read_mot(self.mot) if self.mot else None

    def seg_files(self) -> dict[int, Path]:
        if not self.seg:
            return {}
        return {int(p.stem): p for p in sorted(self.seg.glob("*.json")) if p.stem.isdigit()}


def read_sequence(path: str | Path) -> Sequence:
    """Find a sequence's frames, MOT rows and segmentation; note what is absent."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such sequence folder")
    name = path.name
    frames = path / "img" if (path / "img").is_dir() else None
    mot = None
    for cand in (path / "gt" / "gt.txt", path / "mot" / name, path / "mot" / f"{name}.txt", path / "gt.txt"):
        if cand.is_file():
            mot = cand
            break
    if mot is None and (path / "mot").is_dir():
        files = [p for p in (path / "mot").iterdir() if p.is_file()]
        mot = files[0] if len(files) == 1 else None
    seg = path / "seg" if (path / "seg").is_dir() else None
    missing = [what for what, v in (("frames (img/)", frames), ("MOT rows", mot), ("segmentation (seg/)", seg)) if v is None]
    if missing:
        log.info("%s: no %s", path, ", no ".join(missing))
    return Sequence(name, path, frames, mot, seg, missing)

"""``BoxPredictor``: numpy frames and boxes in, per-object masks out, through crop-and-zoom.

The model stays a pure module; this class holds the numpy-to-tensor work (as
segment_anything's ``SamPredictor`` does for ``Sam``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch

from data.masks import (
    check_keep,
    clean_mask,
    clip_to_box,
    rectangle_if_compact,
    tight_box,
)

from .model import RosSam
from .windows import Window, plan_windows, validate_boxes, window_sizes


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA if present, else CPU. Called once, at entry points."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but no CUDA device is available")
    return device


PRECISIONS = ("auto", "bf16", "float32")


def native_bf16(device: torch.device) -> bool:
    """The device computes bf16 in hardware: CUDA, or a CPU with AVX512-BF16 or AMX (elsewhere a
    CPU emulates it, slower than float32)."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check is not None and check() for check in checks)


def resolve_precision(device: torch.device, precision: str = "auto") -> str:
    """``bf16`` or ``float32``: ``auto`` is bf16 where the device computes it natively
    (``native_bf16``), float32 elsewhere."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "float32"
    return precision


def autocast_for(device: torch.device, precision: str = "auto"):
    """The autocast context of ``resolve_precision(device, precision)``."""
    if resolve_precision(device, precision) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class Prediction:
    """Per-object results for one frame, in input order.

    ``masks[i]`` is a boolean crop whose top-left pixel is ``offsets[i]`` (x, y) in the frame;
    ``boxes[i]`` the mask's tight xyxy box (NaN for an empty mask).
    """

    masks: list[np.ndarray]
    offsets: np.ndarray  # [N, 2] int
    iou: np.ndarray  # [N] predicted IoU
    boxes: np.ndarray  # [N, 4]
    frame_size: tuple[int, int]  # (height, width)
    windows: list[Window] = field(default_factory=list)
    window_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.masks)

    def full_mask(self, i: int) -> np.ndarray:
        h, w = self.frame_size
        out = np.zeros((h, w), dtype=bool)
        m = self.masks[i]
        x, y = self.offsets[i]
        out[y : y + m.shape[0], x : x + m.shape[1]] = m
        return out

    def full_masks(self) -> np.ndarray:
        h, w = self.frame_size
        if not self.masks:
            return np.zeros((0, h, w), dtype=bool)
        return np.stack([self.full_mask(i) for i in range(len(self))])


class BoxPredictor:
    """Segment boxes on a frame with ROS-SAM's crop-and-zoom.

    share_windows: objects whose boxes fit in one window (with ``margin`` px on each side,
    default an eighth of the window) share an encoder pass. adaptive_zoom: small objects get
    smaller windows (down to a quarter of the variant's, so zoomed up to x8; see
    ``window_sizes``); False keeps the paper's fixed window and x2 zoom. batch_size: windows per
    encoder call. hq_token_only: use the HQ logits alone (else SAM's plus HQ's, as HQ-SAM); None
    takes the model's own setting (recorded in the checkpoint it was loaded from). clip: mask
    pixels outside the box (grown by a pixel) are dropped: a box prompt says the object is inside
    it, and box-prompted SAM spills onto neighbours (a parked row of cars). keep,
    fill_holes: the mask clean-up of ``data.masks.clean_mask`` (which parts of a mask are the
    prompted object; whether enclosed holes are filled). rectangle: a mask that fills at least
    this share of its convex hull becomes its minimum-area rectangle inside the box
    (``data.masks.rectangle_if_compact``: vehicles and boats; None: off). precision: ``auto``
    (bf16 autocast where the device computes bf16 natively: CUDA, recent x86 CPUs), ``bf16`` or
    ``float32``.
    """

    def __init__(
        self,
        model: RosSam,
        *,
        share_windows: bool = True,
        adaptive_zoom: bool = True,
        margin: float | None = None,
        batch_size: int = 16,
        hq_token_only: bool | None = None,
        mask_threshold: float = 0.0,
        clip: bool = True,
        keep: str = "centre",
        fill_holes: bool = True,
        rectangle: float | None = None,
        precision: str = "auto",
    ):
        self.model = model.eval()
        self.window = model.variant.window
        self.share_windows = share_windows
        self.adaptive_zoom = adaptive_zoom
        self.margin = self.window / 8 if margin is None else float(margin)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.hq_token_only = model.hq_token_only if hq_token_only is None else hq_token_only
        self.mask_threshold = mask_threshold
        self.keep = check_keep(keep)
        self.clip = clip
        self.fill_holes = fill_holes
        self.rectangle = rectangle
        resolve_precision(torch.device("cpu"), precision)  # checks the name
        self.precision = precision
        self.encoder_passes = 0  # counted over the predictor's life, for benchmarks

    @property
    def device(self) -> torch.device:
        return self.model.device

    def _window_tensor(self, image: np.ndarray, w: Window) -> torch.Tensor:
        return torch.from_numpy(w.cut(image, self.model.variant.img_size)).permute(2, 0, 1)

    @torch.inference_mode()
    def predict(self, image: np.ndarray, boxes) -> Prediction:
        """image: RGB uint8 [H, W, 3]; boxes: [N, 4] xyxy frame pixels."""
        if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8):
            got = getattr(image, "shape", type(image))
            raise ValueError(f"image must be an RGB uint8 array of shape [H, W, 3], got {got}")
        h, w = image.shape[:2]
        boxes = validate_boxes(boxes, w, h)
        n = len(boxes)
        if n == 0:
            return Prediction([], np.zeros((0, 2), np.int64), np.zeros(0), np.zeros((0, 4)), (h, w))
        sizes = window_sizes(boxes, self.window) if self.adaptive_zoom else None
        windows, index = plan_windows(boxes, self.window, self.margin, share=self.share_windows, sizes=sizes)
        masks: list[np.ndarray | None] = [None] * n
        offsets = np.zeros((n, 2), dtype=np.int64)
        ious = np.zeros(n)
        size = self.model.variant.img_size
        device = self.device
        for start in range(0, len(windows), self.batch_size):
            batch = range(start, min(start + self.batch_size, len(windows)))
            objs = np.flatnonzero((index >= batch.start) & (index < batch.stop))
            images = torch.stack([self._window_tensor(image, windows[k]) for k in batch]).to(device)
            enc_boxes = np.concatenate([windows[index[i]].boxes_in(boxes[i], size) for i in objs])
            enc_boxes = torch.as_tensor(enc_boxes, dtype=torch.float32, device=device)
            win_idx = torch.as_tensor(index[objs] - batch.start, device=device)
            with autocast_for(device, self.precision):
                emb, early = self.model.encode(self.model.preprocess(images.float()))
                out = self.model.decode(emb, early, win_idx, enc_boxes, hq_token_only=self.hq_token_only)
            self.encoder_passes += len(batch)
            logits = out.masks.float()
            iou = out.iou.float()[:, 0].cpu().numpy()
            for row, i in enumerate(objs):
                m, (x0, y0) = windows[index[i]].paste(logits[row, 0], (h, w), self.mask_threshold)
                if self.clip:
                    m = clip_to_box(m, (x0, y0), boxes[i])
                local = boxes[i] - [x0, y0, x0, y0]
                if self.keep != "all" or self.fill_holes:
                    m = clean_mask(m, local, self.keep, self.fill_holes)
                if self.rectangle is not None:
                    m = rectangle_if_compact(m, local, self.rectangle)
                masks[i] = m
                offsets[i] = (x0, y0)
                ious[i] = iou[row]
        tight = np.stack([tight_box(m, offsets[i]) for i, m in enumerate(masks)])
        return Prediction(masks, offsets, ious, tight, (h, w), windows, index)

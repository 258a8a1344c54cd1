"""Procedural aerial ground, object rasterisation with cast shadows, and satellite imaging."""

from __future__ import annotations

import cv2
import numpy as np

from .shapes import Part

SUPERSAMPLE = 4

# Muted ground tones (RGB) seen in satellite video: dry soil, grass, concrete, asphalt, urban.
GROUND_TONES = np.array([
    [128, 120, 104], [104, 110, 90], [150, 144, 132], [96, 98, 96], [120, 112, 96],
    [88, 96, 80], [160, 152, 136], [112, 108, 104], [72, 80, 70], [138, 128, 110],
], dtype=np.float32)
WATER_TONES = np.array([[40, 60, 66], [52, 70, 78], [30, 48, 50], [62, 78, 82]], dtype=np.float32)


def smooth_noise(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Zero-mean unit-ish noise with features about ``scale`` px wide."""
    gh, gw = max(2, int(h / scale) + 2), max(2, int(w / scale) + 2)
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _poly_i32(poly: np.ndarray, x0: float, y0: float) -> np.ndarray:
    return np.round((poly - [x0, y0]) * SUPERSAMPLE).astype(np.int32)


def rasterize(polys: list[np.ndarray], x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """Anti-aliased coverage [h, w] in 0..1 of the union of polygons, region at (x0, y0)."""
    big = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
    for p in polys:  # one call per polygon: fillPoly on several treats overlaps as holes (even-odd)
        cv2.fillPoly(big, [_poly_i32(p, x0, y0)], 255)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def parts_bbox(parts: list[Part], pad: float = 0.0) -> np.ndarray:
    pts = np.concatenate([p.polygon for p in parts])
    return np.array([pts[:, 0].min() - pad, pts[:, 1].min() - pad, pts[:, 0].max() + pad, pts[:, 1].max() + pad])


def draw_object(
    image: np.ndarray,
    parts: list[Part],
    colour: np.ndarray,
    shadow: np.ndarray | None = None,
    shadow_strength: float = 0.5,
    ids: np.ndarray | None = None,
    obj_id: int = 0,
    rng: np.random.Generator | None = None,
) -> np.ndarray | None:
    """Composite an object (and its cast shadow) onto a float32 image in place.

    Returns the object's coverage (>= 0.5 is its mask) over the image's region as a full-size
    boolean mask cropped to a box: ``(mask, x0, y0)``, or None when it lies outside the image.
    Where ``ids`` is given, the object's pixels are set to ``obj_id`` (later objects on top).
    With ``rng``, the object is lit unevenly: a shaded side (a brightness ramp across it, in a
    random direction) and blotches, so that its outline, not an even colour, defines it.
    """
    h, w = image.shape[:2]
    sx, sy = (0.0, 0.0) if shadow is None else (float(shadow[0]), float(shadow[1]))
    b = parts_bbox(parts, pad=1.5)
    bx0, by0 = int(np.floor(min(b[0], b[0] + sx))), int(np.floor(min(b[1], b[1] + sy)))
    bx1, by1 = int(np.ceil(max(b[2], b[2] + sx))), int(np.ceil(max(b[3], b[3] + sy)))
    x0, y0, x1, y1 = max(bx0, 0), max(by0, 0), min(bx1, w), min(by1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    rw, rh = x1 - x0, y1 - y0
    region = image[y0:y1, x0:x1]
    body = rasterize([p.polygon for p in parts], x0, y0, rw, rh)
    if shadow is not None:
        cast = rasterize([p.polygon + [sx, sy] for p in parts], x0, y0, rw, rh)
        region *= (1.0 - shadow_strength * cast * (1.0 - body))[..., None]
    def tone(p: Part) -> np.ndarray:
        base = colour if p.colour is None else np.asarray(p.colour, np.float32)
        return np.clip(base * p.shade, 0, 255).astype(np.float32)

    paint = np.empty((rh, rw, 3), np.float32)
    paint[:] = tone(parts[0])
    for p in parts[1:]:
        paint += (tone(p) - paint) * rasterize([p.polygon], x0, y0, rw, rh)[..., None]
    if rng is not None and rng.random() < 0.7:
        yy, xx = np.mgrid[0:rh, 0:rw].astype(np.float32)
        t = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(t) * (xx - rw / 2) + np.sin(t) * (yy - rh / 2)
        ramp /= max(float(np.abs(ramp).max()), 1.0)
        light = 1.0 + rng.uniform(0.0, 0.35) * ramp
        light += smooth_noise(rng, rh, rw, max(2.0, min(rh, rw) / 4)) * rng.uniform(0.0, 0.12)
        paint *= light[..., None]
    region += (np.clip(paint, 0, 255) - region) * body[..., None]
    mask = body >= 0.5
    if ids is not None:
        ids[y0:y1, x0:x1][mask] = obj_id
    return mask, x0, y0


def make_ground(rng: np.random.Generator, h: int, w: int, scale: float = 1.0) -> np.ndarray:
    """Float32 RGB ground: textured soil and fields, with buildings and their shadows.

    ``scale`` is pixels per metre relative to satellite video (2 for a patch zoomed x2).
    """
    tone = GROUND_TONES[rng.integers(len(GROUND_TONES))] + rng.normal(0, 8, 3).astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = tone
    lum = np.zeros((h, w), np.float32)
    for s, a in ((2 * scale, rng.uniform(2, 7)), (10 * scale, rng.uniform(2, 8)), (60 * scale, rng.uniform(3, 12))):
        lum += a * smooth_noise(rng, h, w, s)
    img += lum[..., None]
    # fields and lots of another tone
    for _ in range(rng.integers(0, 5)):
        fw, fh = rng.uniform(0.2, 0.9) * w, rng.uniform(0.2, 0.9) * h
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        ang = rng.uniform(0, 180) if rng.random() < 0.3 else rng.choice([0.0, 90.0])
        box = cv2.boxPoints(((cx, cy), (fw, fh), ang)).astype(np.int32)
        layer = np.zeros((h, w), np.uint8)
        cv2.fillPoly(layer, [box], 1)
        shift = GROUND_TONES[rng.integers(len(GROUND_TONES))] - tone
        img += layer[..., None].astype(np.float32) * shift * rng.uniform(0.3, 0.9)
    return img


def draw_band(img: np.ndarray, p0, p1, width: float, colour, edge_dark: float = 0.0) -> None:
    """A road, runway, rail bed or canal: a straight band between two points."""
    colour = np.asarray(colour, np.float32)
    layer = np.zeros(img.shape[:2], np.uint8)
    cv2.line(layer, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 255, max(1, int(round(width))), cv2.LINE_AA)
    a = layer.astype(np.float32)[..., None] / 255.0
    img += (colour - img) * a
    if edge_dark > 0:
        edge = cv2.morphologyEx(layer, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(np.float32) / 255.0
        img *= (1 - edge_dark * edge)[..., None]


def draw_buildings(rng: np.random.Generator, img: np.ndarray, n: int, sun: np.ndarray, scale: float = 1.0) -> None:
    h, w = img.shape[:2]
    for _ in range(n):
        bw, bh = rng.uniform(8, 60) * scale, rng.uniform(8, 60) * scale
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        ang = rng.choice([0.0, 90.0]) + rng.normal(0, 4)
        poly = cv2.boxPoints(((cx, cy), (bw, bh), ang))
        roof = np.clip(rng.choice([rng.uniform(150, 230), rng.uniform(80, 130)]) + rng.normal(0, 6, 3), 0, 255)
        draw_object(img, [Part(poly)], roof, shadow=sun * rng.uniform(3, 10) * scale, shadow_strength=0.6)


def desaturate(img: np.ndarray, amount: float) -> np.ndarray:
    gray = img.mean(axis=2, keepdims=True)
    return img + (gray - img) * amount


def imaging(rng: np.random.Generator, img: np.ndarray, blur: float | None = None, noise: float | None = None,
            contrast: float | None = None, haze: float | None = None) -> np.ndarray:
    """Optics and sensor: blur, haze and contrast, noise; float32 in, uint8 out."""
    blur = rng.uniform(0.4, 1.1) if blur is None else blur
    if blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    contrast = rng.uniform(0.8, 1.1) if contrast is None else contrast
    haze = rng.uniform(0, 25) if haze is None else haze
    img = img * contrast + haze
    noise = rng.uniform(1.0, 4.0) if noise is None else noise
    if noise > 0:
        img = img + rng.standard_normal(img.shape[:2], dtype=np.float32)[..., None] * noise
    return np.clip(img, 0, 255).astype(np.uint8)


def jpeg(rng: np.random.Generator, img: np.ndarray, quality: tuple[int, int] = (45, 95)) -> np.ndarray:
    q = int(rng.integers(quality[0], quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()

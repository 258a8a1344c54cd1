"""Whole synthetic satellite clips with ground truth (see ``python -m data.synthetic --help``).

The scene is procedural aerial ground with roads, taxiways, water and rail beds under the
objects' paths, buildings and parked look-alikes (still cars and airplanes, never in the ground
truth). Objects move at constant velocity, some turn, some enter or leave the frame, some travel
in close pairs, paths cross; no two objects start on top of each other (seen from orbit, vehicles
do not stack). The platform jitters by a pixel or two between frames; frames are
blurred, noisy and written as MJPG, like a delivered satellite video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from .render import WATER_TONES, desaturate, draw_band, draw_buildings, draw_object, imaging, make_ground
from .shapes import BUILDERS, CLASS_IDS, CLASSES, SIZE_RANGES, body_colour, object_width, place

SPEEDS = {"car": (0.6, 2.5), "airplane": (1.0, 4.0), "ship": (0.3, 1.5), "train": (1.0, 3.0)}
ROAD_GREY = 85.0  # the middle of the car roads' tones: faint objects are pulled towards it
WEIGHTS = {"car": 0.55, "airplane": 0.2, "ship": 0.15, "train": 0.1}


@dataclass
class ClipConfig:
    frames: int = 100
    objects: int = 20
    size: int = 1024
    seed: int = 0
    classes: tuple[str, ...] = CLASSES
    fps: float = 10.0
    jitter: float = 1.5  # platform jitter, px
    distractors: bool = True
    step: int = 1  # source frames per clip frame: motion per frame x step (a clip kept every k-th frame)
    car_length: tuple[float, float] | None = None  # px, instead of the default range of car lengths
    object_contrast: float = 1.0  # < 1: object colours pulled towards a road grey (faint objects)
    shared_roads: float = 0.0  # chance that an object joins an earlier one's road (dense traffic)
    close_pairs: float = 0.25  # chance that an object travels beside an earlier one, on its course
    # 0: a turn is a rigid pivot at a rate drawn whatever the object's length (a 270 px train's
    # ends may swing 11 px a frame while it moves 2); r > 0: the turn's radius is at least r x the
    # object's length, as for a vehicle following its way (its rate at most speed / (r x length);
    # the same turn over more frames)
    turn_radius: float = 0.0

    def __post_init__(self):
        bad = [c for c in self.classes if c not in CLASSES]
        if bad:
            raise ValueError(f"unknown classes {bad}; known: {', '.join(CLASSES)}")
        if self.frames < 1 or self.objects < 0 or self.size < 64:
            raise ValueError("need frames >= 1, objects >= 0 and size >= 64")
        if self.step < 1 or not 0 < self.object_contrast <= 1:
            raise ValueError("need step >= 1 and 0 < object_contrast <= 1")
        if not (0 <= self.shared_roads <= 1 and 0 <= self.close_pairs <= 1):
            raise ValueError("shared_roads and close_pairs are chances: need 0 <= each <= 1")
        if self.turn_radius < 0:
            raise ValueError(f"turn_radius must be 0 (off) or more, got {self.turn_radius}")


@dataclass
class Mover:
    id: int
    cls: str
    parts: list
    colour: np.ndarray
    start: int  # first frame at which it exists
    pos: np.ndarray  # scene position at ``start``
    heading: float
    speed: float
    turn_at: int
    turn_rate: float  # rad per frame while turning
    turn_frames: int


class SyntheticClip:
    """Iterate to get ``(frame_number, image RGB uint8, id_map uint16)``; ``movers`` are the objects."""

    def __init__(self, cfg: ClipConfig):
        self.cfg = cfg
        rng = np.random.default_rng(cfg.seed)
        self.rng = rng
        s, j = cfg.size, int(np.ceil(cfg.jitter)) + 2
        self.margin = j
        self.background = make_ground(rng, s + 2 * j, s + 2 * j)
        self.sun = np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)])
        self.movers: list[Mover] = []
        weights = np.array([WEIGHTS[c] for c in cfg.classes])
        for k in range(cfg.objects):
            cls = cfg.classes[rng.choice(len(cfg.classes), p=weights / weights.sum())]
            self.movers.append(self._new_mover(rng, k + 1, cls))
        self._draw_context(rng)
        self.blur = rng.uniform(0.5, 0.9)
        self.noise = rng.uniform(1.5, 3.5)
        self.contrast = rng.uniform(0.85, 1.05)
        self.haze = rng.uniform(0, 20)
        self._offsets = self._jitter_walk(rng)

    def _new_mover(self, rng, oid: int, cls: str) -> Mover:
        s, j = self.cfg.size, self.margin
        length = rng.uniform(*(self.cfg.car_length if cls == "car" and self.cfg.car_length else SIZE_RANGES[cls]))
        # the object's look draws from its own stream: how it is drawn never moves the others
        parts = BUILDERS[cls](np.random.default_rng(rng.integers(2**63)), length)
        speed = rng.uniform(*SPEEDS[cls]) * self.cfg.step
        heading = rng.uniform(0, 2 * np.pi)
        if cls == "car" and rng.random() < 0.6:
            heading = rng.choice([0, 0.5, 1, 1.5]) * np.pi + rng.normal(0, 0.02)
        start = 1
        if self.cfg.shared_roads and self.movers and rng.random() < self.cfg.shared_roads:
            other = self.movers[int(rng.integers(len(self.movers)))]
            if other.start == 1 and other.cls == cls:  # on its road, either way, in another lane
                along = np.array([np.cos(other.heading), np.sin(other.heading)])
                side = np.array([-along[1], along[0]])
                # lanes about twice a car's width apart (3.5 m lanes, 1.8 m cars), 1-3 lanes over
                lane = object_width(other.parts) * rng.uniform(1.7, 2.2) * rng.integers(1, 4) * rng.choice([-1, 1])
                pos = other.pos + along * rng.uniform(-0.4, 0.4) * s + side * lane
                lane_heading = other.heading + (np.pi if rng.random() < 0.5 else 0.0) + rng.normal(0, 0.01)
                if np.all((pos > j) & (pos < s + j)) and not self._overlaps(parts, pos, lane_heading):
                    heading = lane_heading
                    return Mover(oid, cls, parts, self._colour(rng, cls), start, pos, heading, speed, 10**9, 0.0, 0)
        if self.movers and rng.random() < self.cfg.close_pairs:  # beside an earlier object, same course
            other = self.movers[int(rng.integers(len(self.movers)))]
            if other.cls == cls and other.start == 1:
                heading, speed = other.heading, other.speed * rng.uniform(0.95, 1.05)
                side = np.array([-np.sin(heading), np.cos(heading)])
                gap = object_width(other.parts) * rng.uniform(1.4, 2.2)
                pos = other.pos + side * gap * rng.choice([-1, 1])
                if not self._overlaps(parts, pos, heading):
                    return Mover(oid, cls, parts, self._colour(rng, cls), start, pos, heading, speed, 10**9, 0.0, 0)
        if rng.random() < 0.3:  # enters from outside during the clip
            start = int(rng.integers(1, max(2, self.cfg.frames // 2)))
            edge = rng.integers(4)
            t = rng.uniform(0.1, 0.9) * s
            pos = [np.array([-length, t]), np.array([s + length, t]), np.array([t, -length]), np.array([t, s + length])][edge]
            inward = [0.0, np.pi, 0.5 * np.pi, 1.5 * np.pi][edge]
            heading = inward + rng.uniform(-0.5, 0.5)
            pos = pos + j
        else:
            for _ in range(20):  # a free place (the last try is kept in a crowded scene)
                pos = rng.uniform(0.08, 0.92, 2) * s + j
                if not self._overlaps(parts, pos, heading):
                    break
        turn_at, turn_rate, turn_frames = 10**9, 0.0, 0
        if rng.random() < 0.3:
            turn_frames = int(rng.integers(10, 30))
            turn_at = start + int(rng.integers(0, max(1, self.cfg.frames)))
            turn_rate = rng.choice([-1, 1]) * rng.uniform(0.3, 1.6) / turn_frames
            most = speed / self.cfg.step / (self.cfg.turn_radius * length) if self.cfg.turn_radius > 0 else np.inf
            if abs(turn_rate) > most:  # the same angle, turned no faster than the object can
                angle = turn_rate * turn_frames
                turn_frames = int(np.ceil(abs(angle) / most))
                turn_rate = angle / turn_frames
            turn_frames = max(1, turn_frames // self.cfg.step)  # the same turn over fewer clip frames
            turn_rate *= self.cfg.step
        return Mover(oid, cls, parts, self._colour(rng, cls), start, np.asarray(pos, float), heading, speed,
                     turn_at, turn_rate, turn_frames)

    def _overlaps(self, parts: list, pos: np.ndarray, heading: float) -> bool:
        """Would an object of these parts at ``pos`` cover one already there in the first frame?"""
        hull = _hull(parts, pos, heading)
        for m in self.movers:
            if m.start == 1 and cv2.intersectConvexConvex(hull, _hull(m.parts, m.pos, m.heading))[0] > 0:
                return True
        return False

    def _colour(self, rng, cls: str) -> np.ndarray:
        colour = body_colour(rng, cls)
        if self.cfg.object_contrast == 1:
            return colour
        return ROAD_GREY + self.cfg.object_contrast * (colour - ROAD_GREY)

    def _draw_context(self, rng) -> None:
        """Roads, taxiways, water and rail under the paths; buildings; parked look-alikes."""
        bg = self.background
        n = bg.shape[0]
        for m in self.movers:
            d = np.array([np.cos(m.heading), np.sin(m.heading)])
            a, b = m.pos - d * 3 * n, m.pos + d * 3 * n
            width = object_width(m.parts)
            if m.cls == "car":
                draw_band(bg, a, b, width * rng.uniform(3, 5), np.clip(rng.uniform(60, 110) + rng.normal(0, 3, 3), 0, 255), 0.2)
            elif m.cls == "airplane":
                draw_band(bg, a, b, width * rng.uniform(0.5, 0.8), np.clip(rng.uniform(130, 175) + rng.normal(0, 3, 3), 0, 255))
            elif m.cls == "ship":
                draw_band(bg, a, b, width * rng.uniform(4, 8), WATER_TONES[rng.integers(len(WATER_TONES))])
            else:
                draw_band(bg, a, b, 7, np.clip(rng.uniform(90, 130) + rng.normal(0, 3, 3), 0, 255))
        draw_buildings(rng, bg, int(rng.integers(5, 25)), self.sun)
        if self.cfg.distractors:
            for _ in range(int(rng.integers(2, 6))):  # parked rows of cars
                heading = rng.choice([0, 0.5]) * np.pi
                along = np.array([np.cos(heading), np.sin(heading)])
                side = np.array([-along[1], along[0]])
                origin = rng.uniform(0.1, 0.9, 2) * n
                length = rng.uniform(*SIZE_RANGES["car"])
                for k in range(int(rng.integers(3, 12))):
                    parts = BUILDERS["car"](rng, length * rng.uniform(0.9, 1.1))
                    p = origin + side * k * (length * 0.5 + rng.uniform(1, 3))
                    draw_object(bg, place(parts, *p, heading), body_colour(rng, "car"), shadow=self.sun * 1.2)
            if "airplane" in self.cfg.classes and rng.random() < 0.6:
                span = rng.uniform(*SIZE_RANGES["airplane"])
                draw_object(bg, place(BUILDERS["airplane"](rng, span), *(rng.uniform(0.1, 0.9, 2) * n), rng.uniform(0, 6.3)),
                            body_colour(rng, "airplane"), shadow=self.sun * span * 0.1)
        self.background = desaturate(bg, rng.uniform(0.2, 0.5))

    def _jitter_walk(self, rng) -> np.ndarray:
        off = np.zeros((self.cfg.frames, 2), int)
        cur = np.zeros(2)
        for t in range(self.cfg.frames):
            cur = np.clip(cur + rng.normal(0, 0.6, 2), -self.cfg.jitter, self.cfg.jitter)
            off[t] = np.round(cur)
        return off

    def frame_offset(self, t: int) -> np.ndarray:
        """Scene-to-frame shift of frame t: frame = scene - margin - offset."""
        return self._offsets[t - 1] + self.margin

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        s = self.cfg.size
        frame_rng = np.random.default_rng([self.cfg.seed, 1])
        states = [dict() for _ in self.movers]
        for k, m in enumerate(self.movers):  # integrate once, not per frame
            pos, h = m.pos.copy(), m.heading
            for t in range(m.start, self.cfg.frames + 1):
                states[k][t] = (pos.copy(), h)
                if m.turn_at <= t < m.turn_at + m.turn_frames:
                    h += m.turn_rate
                pos += m.speed * np.array([np.cos(h), np.sin(h)])
        for t in range(1, self.cfg.frames + 1):
            oy, ox = self.frame_offset(t)[::-1]
            frame = self.background[oy : oy + s, ox : ox + s].copy()
            ids = np.zeros((s, s), np.uint16)
            for k, m in enumerate(self.movers):
                st = states[k].get(t)
                if st is None:
                    continue
                (px, py), h = st
                placed = place(m.parts, px - ox, py - oy, h)
                shadow_len = {"car": 1.2, "airplane": 3.0, "ship": 1.0, "train": 0.8}[m.cls]
                draw_object(frame, placed, m.colour, shadow=self.sun * shadow_len, shadow_strength=0.45, ids=ids, obj_id=m.id)
            flicker = 1 + frame_rng.normal(0, 0.01)  # a small gain change from frame to frame
            image = imaging(frame_rng, frame, blur=self.blur, noise=self.noise, contrast=self.contrast * flicker,
                            haze=self.haze)
            yield t, image, ids


def _hull(parts: list, pos: np.ndarray, heading: float) -> np.ndarray:
    """Convex hull (float32 [K, 1, 2]) of an object's placed outline."""
    return cv2.convexHull(np.concatenate([p.polygon for p in place(parts, *pos, heading)]).astype(np.float32))


def boxes_from_ids(ids: np.ndarray) -> dict[int, np.ndarray]:
    """Tight xyxy box of every id's visible pixels."""
    out = {}
    for oid in np.unique(ids):
        if oid == 0:
            continue
        ys, xs = np.nonzero(ids == oid)
        out[int(oid)] = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
    return out


def class_of(clip: SyntheticClip) -> dict[int, int]:
    return {m.id: CLASS_IDS[m.cls] for m in clip.movers}

"""Object outlines in local coordinates (heading along +x, centred at the origin), in pixels.

Each builder returns a list of ``Part``: a polygon with a colour factor relative to the
object's body colour (1.0 = body, < 1 darker, > 1 lighter), or a colour of its own (a truck's
trailer, a boat's teak deck, an airline's tail). The first part is the body; the union of all
parts is the object's mask, however dark or bright each part is: real objects are assemblies of
parts of different brightness, and the mask covers all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("car", "airplane", "ship", "train")
CLASS_IDS = {"car": 0, "airplane": 1, "ship": 2, "train": 3}


@dataclass
class Part:
    polygon: np.ndarray  # [K, 2] float, local coordinates
    shade: float = 1.0
    colour: np.ndarray | None = None  # RGB of its own (times shade); None: the body's colour


# Glass and other dark parts seen from above: near black, a little blue or green.
def _glass(rng: np.random.Generator) -> np.ndarray:
    return np.clip(rng.uniform(15, 45) + rng.normal(0, 4, 3), 0, 255)


# Trailers and containers: white, grey, or a container colour.
_CARGO = np.array([[225, 225, 220], [150, 150, 150], [170, 60, 40], [40, 90, 150], [60, 120, 70], [200, 160, 40]], float)


def _rounded_rect(length: float, width: float, radius: float, n: int = 4) -> np.ndarray:
    hl, hw = length / 2, width / 2
    r = min(radius, hl, hw)
    pts = []
    for cx, cy, a0 in ((hl - r, hw - r, 0), (-hl + r, hw - r, 90), (-hl + r, -hw + r, 180), (hl - r, -hw + r, 270)):
        for a in np.linspace(a0, a0 + 90, n):
            t = np.deg2rad(a)
            pts.append((cx + r * np.cos(t), cy + r * np.sin(t)))
    return np.array(pts)


def car(rng: np.random.Generator, length: float, long_body: bool | None = None) -> list[Part]:
    """A car, van, bus or truck seen from above: a rounded body with dark windscreen and rear
    window around a roof; a truck's cab and trailer have colours of their own.

    long_body: a bus, van or truck (a third of its length across) rather than a car. None: by
    the length at the clips' scale of about 1 m/px (over 13 px). A training window's object has
    no scale of its own (a car of 20 px is an aerial car, not a bus): its sampler says which."""
    if long_body is None:
        long_body = length > 13
    width = length * (rng.uniform(0.28, 0.38) if long_body else rng.uniform(0.42, 0.55))
    parts = [Part(_rounded_rect(length, width, width * rng.uniform(0.2, 0.45)))]
    if length >= 6 and not long_body:
        glass = _glass(rng)
        ws = length * rng.uniform(0.12, 0.18)
        x0 = length * rng.uniform(0.02, 0.12)
        parts.append(Part(np.array([[x0, -width * 0.38], [x0 + ws, -width * 0.34], [x0 + ws, width * 0.34], [x0, width * 0.38]]),
                          colour=glass))
        roof = length * rng.uniform(0.28, 0.4)
        parts.append(Part(_rounded_rect(roof, width * 0.66, 1.0) + [x0 - roof / 2, 0], rng.uniform(0.8, 1.2)))
        rear = x0 - roof - length * rng.uniform(0.0, 0.04)
        rw = length * rng.uniform(0.07, 0.12)
        if rear - rw > -length / 2 + 0.5:
            parts.append(Part(np.array([[rear, -width * 0.34], [rear, width * 0.34], [rear - rw, width * 0.3], [rear - rw, -width * 0.3]]),
                              colour=glass))
        if rng.random() < 0.25:  # a roof panel or sunroof: bright or dark
            parts.append(Part(_rounded_rect(roof * 0.5, width * 0.4, 0.5) + [x0 - roof / 2, 0], rng.choice([0.4, 1.3])))
    elif long_body:
        if rng.random() < 0.5:  # truck: cab ahead of a trailer of another colour
            cab = length * rng.uniform(0.15, 0.25)
            trailer = length - cab - max(0.5, length * 0.02)
            parts.append(Part(_rounded_rect(trailer, width * 1.02, 0.5) + [-length / 2 + trailer / 2, 0],
                              colour=_CARGO[rng.integers(len(_CARGO))] + rng.normal(0, 6, 3)))
            parts.append(Part(np.array([[length / 2 - cab * 0.35, -width * 0.4], [length / 2 - cab * 0.1, -width * 0.38],
                                        [length / 2 - cab * 0.1, width * 0.38], [length / 2 - cab * 0.35, width * 0.4]]), colour=_glass(rng)))
        else:  # bus or van from above: its roof reaches the body's edge (the side windows are
            # under it, out of sight), a windscreen across the front, maybe a bonnet ahead of it,
            # roof hatches and air-conditioning boxes; a school bus's roof is white on a coloured body
            bonnet = length * (rng.uniform(0.06, 0.16) if rng.random() < 0.4 else 0.0)
            screen = length * rng.uniform(0.03, 0.06)
            roof = length * 0.97 - bonnet - screen
            rx = -length / 2 + length * 0.015 + roof / 2
            white = np.clip(rng.uniform(215, 245) + rng.normal(0, 4, 3), 0, 255) if rng.random() < 0.3 else None
            parts.append(Part(_rounded_rect(roof, width * rng.uniform(0.86, 0.96), 1.0) + [rx, 0], rng.uniform(0.9, 1.1), white))
            sx = rx + roof / 2
            parts.append(Part(np.array([[sx, -width * 0.42], [sx + screen, -width * 0.4], [sx + screen, width * 0.4], [sx, width * 0.42]]),
                              colour=_glass(rng)))
            for _ in range(rng.integers(0, 4)):
                hatch = _rounded_rect(length * rng.uniform(0.05, 0.12), width * rng.uniform(0.3, 0.5), 0.3)
                parts.append(Part(hatch + [rx + roof * rng.uniform(-0.4, 0.4), 0], rng.choice([0.7, 1.25]), white))
    return parts


def airplane(rng: np.random.Generator, span: float) -> list[Part]:
    """A swept-wing airliner or a straight-wing light plane; ``span`` is the wingspan."""
    length = span * rng.uniform(0.85, 1.15)
    fw = max(2.0, length * rng.uniform(0.07, 0.1))  # fuselage width
    hl = length / 2
    nose = np.array([[hl, 0], [hl - fw, fw / 2], [-hl + fw, fw / 2], [-hl, fw * 0.2], [-hl, -fw * 0.2], [-hl + fw, -fw / 2], [hl - fw, -fw / 2]])
    sweep = rng.uniform(0.05, 0.35) * span  # rearward shift of the wing tip
    root_x = rng.uniform(-0.05, 0.12) * length
    chord = rng.uniform(0.12, 0.2) * length
    tip_chord = chord * rng.uniform(0.3, 0.6)
    hs = span / 2
    wing = np.array([
        [root_x + chord / 2, fw / 2], [root_x - sweep + tip_chord / 2, hs], [root_x - sweep - tip_chord / 2, hs],
        [root_x - chord / 2, fw / 2], [root_x - chord / 2, -fw / 2], [root_x - sweep - tip_chord / 2, -hs],
        [root_x - sweep + tip_chord / 2, -hs], [root_x + chord / 2, -fw / 2],
    ])
    ts = span * rng.uniform(0.25, 0.38) / 2
    tx = -hl + fw * 1.2
    tail = np.array([[tx + chord * 0.5, 0], [tx - sweep * 0.15 + 1, ts], [tx - sweep * 0.15 - 1.5, ts], [tx - 1, 0],
                     [tx - sweep * 0.15 - 1.5, -ts], [tx - sweep * 0.15 + 1, -ts]])
    parts = [Part(nose), Part(wing, rng.uniform(0.9, 1.02)), Part(tail, rng.uniform(0.9, 1.02))]
    if rng.random() < 0.5:  # an airline's livery: the fin and tail cone in another colour
        livery = np.array([rng.uniform(20, 200), rng.uniform(20, 160), rng.uniform(40, 200)])
        parts.append(Part(np.array([[tx + chord * 0.3, -fw / 2], [tx + chord * 0.3, fw / 2], [-hl, fw * 0.2], [-hl, -fw * 0.2]]),
                          colour=livery))
    if rng.random() < 0.3:  # a dark cheat line or cockpit windows near the nose
        parts.append(Part(_rounded_rect(fw * 1.2, fw * 0.5, 0.3) + [hl - fw * 1.2, 0], colour=_glass(rng)))
    if span > 30 and rng.random() < 0.8:  # engines under the wings
        for side in (-1, 1):
            ey = side * hs * rng.uniform(0.3, 0.4)
            ex = root_x - sweep * abs(ey) / hs + chord * 0.35
            parts.append(Part(_rounded_rect(chord * 0.5, max(1.5, fw * 0.45), 0.8) + [ex, ey], 0.75))
    return parts


def ship(rng: np.random.Generator, length: float) -> list[Part]:
    """A hull with a pointed bow and a superstructure; a boat (under 40 px) has a deck of
    teak or of the hull's colour and a dark cockpit."""
    width = length * (rng.uniform(0.25, 0.38) if length < 40 else rng.uniform(0.12, 0.2))
    hl, hw = length / 2, width / 2
    bow = hl - width * rng.uniform(0.8, 1.6)
    hull = np.array([[hl, 0], [bow, hw], [-hl + 1, hw], [-hl, hw * 0.7], [-hl, -hw * 0.7], [-hl + 1, -hw], [bow, -hw]])
    parts = [Part(hull)]
    if length < 40:
        inset = np.array([0.8, 0.72])
        if rng.random() < 0.6:  # a deck inside the gunwale: teak, grey or dark
            deck = rng.choice([np.array([120.0, 85, 55]), np.array([90.0, 90, 90]), np.array([45.0, 45, 50])])
            parts.append(Part(hull * inset, colour=deck + rng.normal(0, 6, 3)))
        cl = length * rng.uniform(0.2, 0.35)
        cx = rng.uniform(-0.3, 0.05) * length
        parts.append(Part(_rounded_rect(cl, width * 0.5, 0.8) + [cx, 0], rng.choice([0.3, 0.5, 1.1])))
        if rng.random() < 0.5:
            parts.append(Part(_rounded_rect(cl * 0.35, width * 0.42, 0.5) + [cx + cl * 0.5, 0], colour=_glass(rng)))
        return parts
    sx = rng.uniform(-0.45, 0.1) * length
    sl = length * rng.uniform(0.1, 0.25)
    parts.append(Part(_rounded_rect(sl, width * 0.7, 1.0) + [sx, 0], rng.choice([0.6, 1.3])))
    if rng.random() < 0.5:  # deck cargo
        cl = length * rng.uniform(0.25, 0.45)
        parts.append(Part(_rounded_rect(cl, width * 0.75, 0.5) + [sx + sl / 2 + cl / 2 + 1, 0], rng.uniform(0.6, 1.4),
                          colour=_CARGO[rng.integers(len(_CARGO))] if rng.random() < 0.5 else None))
    return parts


def train(rng: np.random.Generator, length: float) -> list[Part]:
    """A chain of wagons; ``length`` is the whole train's."""
    width = rng.uniform(3.0, 4.5)
    wagon = rng.uniform(14, 24)
    gap = rng.uniform(0.8, 1.6)
    n = max(2, int(length // (wagon + gap)))
    total = n * wagon + (n - 1) * gap
    parts = []
    for i in range(n):
        cx = -total / 2 + wagon / 2 + i * (wagon + gap)
        parts.append(Part(_rounded_rect(wagon, width, 0.6) + [cx, 0], 1.0 if i == 0 else rng.uniform(0.9, 1.1)))
    return parts


BUILDERS = {"car": car, "airplane": airplane, "ship": ship, "train": train}

# Sizes in pixels at satellite-video resolution (about 1 m/px): car length, airplane span,
# ship length, train length.
SIZE_RANGES = {"car": (5.0, 12.0), "airplane": (20.0, 80.0), "ship": (15.0, 120.0), "train": (60.0, 320.0)}


def object_width(parts: list[Part]) -> float:
    """An object's extent across its length (its outline's span along y, in its own frame)."""
    return float(np.ptp(np.concatenate([p.polygon for p in parts])[:, 1]))


def place(parts: list[Part], cx: float, cy: float, heading: float) -> list[Part]:
    c, s = np.cos(heading), np.sin(heading)
    rot = np.array([[c, -s], [s, c]])
    return [Part(p.polygon @ rot.T + [cx, cy], p.shade, p.colour) for p in parts]


def body_colour(rng: np.random.Generator, cls: str) -> np.ndarray:
    """Paint colours as seen from orbit: mostly white, grey, black; some saturated."""
    if cls == "airplane":
        base = rng.choice([235.0, 215.0, 195.0], p=[0.6, 0.3, 0.1])
        return np.clip(base + rng.normal(0, 6, 3), 0, 255)
    if cls == "car":
        kind = rng.choice(5, p=[0.3, 0.22, 0.25, 0.13, 0.1])
        if kind == 0:
            return np.clip(rng.uniform(200, 245) + rng.normal(0, 5, 3), 0, 255)  # white
        if kind == 1:
            return np.clip(rng.uniform(20, 55) + rng.normal(0, 4, 3), 0, 255)  # black
        if kind == 2:
            return np.clip(rng.uniform(110, 175) + rng.normal(0, 5, 3), 0, 255)  # silver / grey
        if kind == 3:
            return np.array([rng.uniform(140, 200), rng.uniform(20, 60), rng.uniform(20, 60)])  # red
        return np.array([rng.uniform(20, 60), rng.uniform(50, 100), rng.uniform(110, 170)])  # blue
    if cls == "ship":
        kind = rng.choice(3, p=[0.5, 0.25, 0.25])
        if kind == 0:
            return np.clip(rng.uniform(190, 240) + rng.normal(0, 6, 3), 0, 255)
        if kind == 1:
            return np.clip(rng.uniform(40, 90) + rng.normal(0, 6, 3), 0, 255)
        return np.array([rng.uniform(120, 170), rng.uniform(40, 70), rng.uniform(30, 60)])
    # train: grey, blue, white, red livery
    choices = np.array([[150, 150, 150], [60, 80, 120], [215, 215, 210], [150, 60, 50]], dtype=float)
    return np.clip(choices[rng.integers(len(choices))] + rng.normal(0, 8, 3), 0, 255)

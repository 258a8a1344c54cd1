"""Object-centred training windows: one target and its neighbours on procedural ground.

Each patch is what ROS-SAM's crop sees: a ``size`` px square window around a target object
whose longer side fills anywhere from a few percent to most of the window (satellite cars of
5 px up to aerial airplanes filling the crop), with the arrangements of real scenes: cars in
same-orientation parking rows with 1-3 px gaps or on roads, airplanes on aprons with their
shadows, ships on water with wakes, trains on rail beds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..masks import tight_box
from .render import WATER_TONES, draw_band, draw_buildings, draw_object, desaturate, imaging, jpeg, make_ground, smooth_noise
from .shapes import BUILDERS, CLASS_IDS, CLASSES, Part, body_colour, object_width, place

# The size (px at about 1 m/px) that defines scale 1 for each class's size parameter.
TYPICAL = {"car": 8.0, "airplane": 45.0, "ship": 60.0, "train": 150.0}
DEFAULT_WEIGHTS = {"car": 0.4, "airplane": 0.25, "ship": 0.2, "train": 0.15}
LONG_VEHICLES = 0.35  # the share of buses, vans and trucks among vehicles of 10 px or more
# the share of light an object's cast shadow takes from the ground: from a hazy day's to the
# near-black gaps of a sunny car park (a row of real buses: roofs at 230-240 grey, the shadows
# between them at 5-30)
SHADOW_STRENGTH = (0.3, 0.95)
# the gap between vehicles parked side by side, in widths of the vehicle (log-uniform): a car
# park's 0.3-1 m between cars and buses; a bus row whose gaps were drawn in cars' units (as
# before) stood two of its widths apart, where a real depot's buses stand a third of one apart
ROW_GAP_WIDTHS = (0.12, 0.8)
# the share of parking rows that are a fleet: every vehicle of the target's paint (a depot's
# school buses, a rental or dealer's lot), told apart only by the gaps and shadows between them
FLEETS = 0.35


@dataclass
class Patch:
    image: np.ndarray  # [S, S, 3] uint8
    masks: np.ndarray  # [N, S, S] bool
    boxes: np.ndarray  # [N, 4] xyxy, tight boxes of the masks
    classes: np.ndarray  # [N] int (0 car, 1 airplane, 2 ship, 3 train)
    target: int = 0


def _heading(rng, axis_aligned: float) -> float:
    if rng.random() < axis_aligned:
        return float(rng.choice([0, 0.5, 1.0, 1.5]) * np.pi + rng.normal(0, 0.03))
    return float(rng.uniform(0, 2 * np.pi))


def _fill(rng) -> float:
    """Target's longer side as a fraction of the window: small satellite objects to large ones."""
    if rng.random() < 0.35:
        return float(np.exp(rng.uniform(np.log(0.04), np.log(0.15))))
    return float(rng.uniform(0.15, 0.9))


def sample_patch(rng: np.random.Generator, size: int = 128, classes=CLASSES, weights: dict | None = None) -> Patch:
    weights = weights or DEFAULT_WEIGHTS
    p = np.array([weights.get(c, 0.0) for c in classes], float)
    cls = classes[rng.choice(len(classes), p=p / p.sum())]
    fill = _fill(rng)
    length = fill * size
    scale = length / TYPICAL[cls]
    sun = np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)])
    img = make_ground(rng, size, size, scale=max(scale, 0.5))
    centre = size / 2 + rng.uniform(-0.25, 0.25, 2) * size * (1 - min(fill, 0.9))
    objects: list[tuple[str, list[Part], np.ndarray]] = []  # (class, placed parts, colour)

    if cls == "car":
        heading = _heading(rng, 0.7)
        # the window sets no scale: a target of 20 px is an aerial car, or a bus or truck
        # (LONG_VEHICLES); below 10 px it is a satellite video's car. A parked row's neighbours
        # are mostly of the target's kind
        long_body = bool(length >= 10 and rng.random() < LONG_VEHICLES)
        parts = BUILDERS["car"](rng, length, long_body)
        width = object_width(parts)
        along = np.array([np.cos(heading), np.sin(heading)])
        side = np.array([-along[1], along[0]])
        if rng.random() < 0.55:  # parking rows: asphalt, side by side
            asphalt = np.clip(rng.uniform(60, 130) + rng.normal(0, 4, 3), 0, 255)
            img += (asphalt - img) * rng.uniform(0.5, 1.0)
            colour = body_colour(rng, "car")
            objects.append(("car", place(parts, *centre, heading), colour))
            fleet = rng.random() < FLEETS

            def neighbour():
                kind = long_body if rng.random() < 0.8 else not long_body
                nb = BUILDERS["car"](rng, length * rng.uniform(0.85, 1.15), kind)
                if kind != long_body:  # a car among buses, or a bus among cars, as wide as its row
                    nb = BUILDERS["car"](rng, length * width / object_width(nb), kind)
                return nb

            def park(nb, off):
                if rng.random() < 0.25:  # an empty bay
                    return
                h2 = heading + (np.pi if rng.random() < 0.2 else 0) + rng.normal(0, 0.02)
                nb_colour = np.clip(colour + rng.normal(0, 6, 3), 0, 255) if fleet else body_colour(rng, "car")
                objects.append(("car", place(nb, *(centre + off + along * rng.normal(0, 0.05) * length), h2), nb_colour))

            for row in range(rng.integers(1, 3)):
                row_shift = along * row * (length + rng.uniform(2, 6) * scale)
                first_half = width / 2
                if row > 0:  # the bay in line with the target
                    nb = neighbour()
                    first_half = object_width(nb) / 2
                    park(nb, row_shift)
                for direction in (-1, 1):
                    # walk outwards, each neighbour a gap beyond the last
                    reach, last_half = 0.0, first_half
                    for _ in range(4):
                        nb = neighbour()
                        half = object_width(nb) / 2
                        gap = ROW_GAP_WIDTHS[0] * width * np.exp(rng.uniform(0, np.log(ROW_GAP_WIDTHS[1] / ROW_GAP_WIDTHS[0])))
                        reach += last_half + gap + half
                        last_half = half
                        park(nb, row_shift + side * direction * reach)
        else:  # a road with traffic ahead and behind
            road_w = width * rng.uniform(2.5, 6)
            asphalt = np.clip(rng.uniform(55, 120) + rng.normal(0, 4, 3), 0, 255)
            draw_band(img, centre - along * 3 * size, centre + along * 3 * size, road_w, asphalt, edge_dark=0.2)
            objects.append(("car", place(parts, *centre, heading), body_colour(rng, "car")))
            for k in (-1, 1):
                if rng.random() < 0.5:
                    off = along * k * length * rng.uniform(1.3, 3) + side * rng.normal(0, 0.2) * width
                    objects.append(("car", place(BUILDERS["car"](rng, length * rng.uniform(0.8, 1.2), long_body), *(centre + off), heading),
                                    body_colour(rng, "car")))
        shadow_len = 0.12
    elif cls == "airplane":
        heading = _heading(rng, 0.3)
        concrete = np.clip(rng.uniform(120, 180) + rng.normal(0, 4, 3), 0, 255)
        if rng.random() < 0.7:
            img += (concrete - img) * rng.uniform(0.6, 1.0)
        draw_band(img, centre - [3 * size, 0], centre + [3 * size, 0], length * rng.uniform(0.3, 0.8),
                  np.clip(concrete * rng.uniform(0.7, 1.1), 0, 255))
        objects.append(("airplane", place(BUILDERS["airplane"](rng, length), *centre, heading), body_colour(rng, "airplane")))
        if rng.random() < 0.4:
            off = rng.choice([-1, 1]) * np.array([-np.sin(heading), np.cos(heading)]) * length * rng.uniform(1.05, 1.4)
            objects.append(("airplane", place(BUILDERS["airplane"](rng, length * rng.uniform(0.8, 1.2)), *(centre + off), heading),
                            body_colour(rng, "airplane")))
        shadow_len = rng.uniform(0.05, 0.2)
    elif cls == "ship":
        heading = _heading(rng, 0.1)
        water = WATER_TONES[rng.integers(len(WATER_TONES))] + rng.normal(0, 5, 3)
        img += (water - img) * 0.95
        img += (smooth_noise(rng, size, size, 6 * max(scale, 0.5)) * rng.uniform(1, 4))[..., None]
        parts = BUILDERS["ship"](rng, length)
        along = np.array([np.cos(heading), np.sin(heading)])
        if rng.random() < 0.6:  # wake: a bright tapered trail behind the stern
            stern = centre - along * length / 2
            wl = length * rng.uniform(0.5, 2.5)
            wk = np.array([stern, stern - along * wl + np.array([-along[1], along[0]]) * wl * 0.2,
                           stern - along * wl - np.array([-along[1], along[0]]) * wl * 0.2])
            draw_object(img, [Part(wk)], np.array([200.0, 205, 205]) * rng.uniform(0.8, 1), shadow=None)
        objects.append(("ship", place(parts, *centre, heading), body_colour(rng, "ship")))
        side = np.array([-along[1], along[0]])
        if length < 40 and rng.random() < 0.5:  # a marina: boats moored side by side in rows
            width = object_width(parts)
            for row in range(rng.integers(1, 3)):
                row_shift = along * row * (length + rng.uniform(3, 10) * scale) * rng.choice([-1, 1])
                for k in range(-5, 6):
                    if (row == 0 and k == 0) or rng.random() < 0.2:
                        continue
                    off = row_shift + side * k * (width + rng.uniform(1, 4) * scale) + along * rng.normal(0, 0.08) * length
                    nb = BUILDERS["ship"](rng, length * rng.uniform(0.8, 1.2))
                    h2 = heading + (np.pi if rng.random() < 0.3 else 0) + rng.normal(0, 0.05)
                    objects.append(("ship", place(nb, *(centre + off), h2), body_colour(rng, "ship")))
        elif rng.random() < 0.3:  # moored alongside
            off = side * rng.choice([-1, 1]) * length * rng.uniform(0.2, 0.35)
            objects.append(("ship", place(BUILDERS["ship"](rng, length * rng.uniform(0.7, 1.1)), *(centre + off), heading),
                            body_colour(rng, "ship")))
        shadow_len = 0.03
    else:
        heading = _heading(rng, 0.3)
        along = np.array([np.cos(heading), np.sin(heading)])
        bed = np.clip(rng.uniform(90, 140) + rng.normal(0, 5, 3), 0, 255)
        draw_band(img, centre - along * 3 * size, centre + along * 3 * size, max(2.0, 6 * scale), bed)
        objects.append(("train", place(BUILDERS["train"](rng, length), *centre, heading), body_colour(rng, "train")))
        shadow_len = 0.02

    if rng.random() < 0.3:
        draw_buildings(rng, img, int(rng.integers(1, 4)), sun, scale=max(scale, 0.5))
    img = desaturate(img, rng.uniform(0.2, 0.6))
    masks, classes_out = [], []
    for k, (c, parts, colour) in enumerate(objects):
        shadow = sun * max(1.0, shadow_len * length * rng.uniform(0.7, 1.3))
        out = draw_object(img, parts, colour, shadow=shadow, shadow_strength=rng.uniform(*SHADOW_STRENGTH), rng=rng)
        full = np.zeros((size, size), bool)
        if out is not None:
            m, x0, y0 = out
            full[y0 : y0 + m.shape[0], x0 : x0 + m.shape[1]] = m
        masks.append(full)
        classes_out.append(CLASS_IDS[c])
    # later objects cover earlier ones
    for k in range(len(masks) - 1, 0, -1):
        for j in range(k):
            masks[j] &= ~masks[k]
    image = jpeg(rng, imaging(rng, img))
    keep = [k for k, m in enumerate(masks) if m.sum() >= 4]
    if 0 not in keep:  # the target must survive; re-draw in the rare case it does not
        return sample_patch(rng, size, classes, weights)
    masks_arr = np.stack([masks[k] for k in keep])
    boxes = np.stack([tight_box(m) for m in masks_arr]).astype(np.float32)
    return Patch(image, masks_arr, boxes, np.array([classes_out[k] for k in keep]), target=0)

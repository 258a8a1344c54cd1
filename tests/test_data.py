"""Readers and writers round trip; the generator is deterministic; bad input gets its error."""

import hashlib
import json

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.augment import Sample, augment, diagonal_flip, large_scale_jitter
from data.boxes import read_init_boxes
from data.masks import tight_box
from data.mot import MotFormatError, Tracks, read_mot, write_mot
from data.rossam_layout import LayoutError, RosSamDataset, convert_satmtb, write_sample
from data.satmtb import SegFormatError, read_seg_json, read_sequence
from data.synthetic.__main__ import write_clip
from data.synthetic.clip import ClipConfig, SyntheticClip, boxes_from_ids
from data.video import VideoError, open_video


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip")
    write_clip(out, ClipConfig(frames=12, objects=8, size=256, seed=5), rossam_layout=True, every=4, progress=False)
    return out


def _write_video(path, frames=10, size=(64, 48)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        w.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    w.release()


# -- video ---------------------------------------------------------------------------------
def test_video_file_streams_every_frame(clip_dir):
    s = open_video(clip_dir / "clip.avi")
    assert s.length == 12 and s.size == (256, 256) and s.fps == pytest.approx(10)
    numbers = [f.number for f in s]
    assert numbers == list(range(1, 13))


def test_frame_folder_and_its_holes(tmp_path):
    img = tmp_path / "seq" / "img"
    img.mkdir(parents=True)
    for n in (1, 2, 4):
        cv2.imwrite(str(img / f"{n:06d}.png"), np.full((8, 10, 3), n, np.uint8))
    with pytest.raises(VideoError, match="frame 3 is missing"):
        open_video(tmp_path / "seq")
    frames = list(open_video(tmp_path / "seq", on_error="skip"))
    assert [f.number for f in frames] == [1, 2, 3, 4] and frames[2].image is None
    assert frames[3].image[0, 0, 0] == 4
    (img / "000003.png").write_bytes(b"not a png")
    with pytest.raises(VideoError, match="frame 3 .*000003.png. is not a readable image"):
        list(open_video(tmp_path / "seq"))


@pytest.mark.parametrize("case", ["missing", "empty", "text", "truncated", "suffix"])
def test_bad_video_files_name_the_file(tmp_path, case):
    path = tmp_path / "v.avi"
    if case == "empty":
        path.write_bytes(b"")
        match = "v.avi: the file is empty"
    elif case == "text":
        path.write_text("hello")
        match = "v.avi: not a readable video"
    elif case == "truncated":
        _write_video(path, frames=40)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        match = r"v.avi: truncated: the header declares 40 frames, decoding fails at frame \d+"
    elif case == "suffix":
        path = tmp_path / "v.txt"
        path.write_text("x")
        match = "v.txt: not a video file"
    else:
        match = "v.avi: no such file"
    with pytest.raises(VideoError, match=match):
        list(open_video(path))


def _corrupt_avi_frames(path, frames):
    """Zero the JPEG data of the given 1-based frames of an MJPG AVI (its '00dc' chunks)."""
    data = bytearray(path.read_bytes())
    chunks, i = [], 0
    while (i := data.find(b"00dc", i)) >= 0:
        size = int.from_bytes(data[i + 4 : i + 8], "little")
        if size > 100:  # a frame's chunk, not an index entry
            chunks.append((i + 8, size))
        i += 8
    for k in frames:
        start, size = chunks[k - 1]
        data[start : start + size] = bytes(size)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("bad", [[4], [4, 5], [4, 5, 6], [3, 5, 7]])
def test_frames_keep_their_numbers_after_frames_that_fail_to_decode(tmp_path, bad):
    path = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for k in range(1, 13):
        w.write(np.full((48, 64, 3), 20 * k, np.uint8))  # frame k is grey 20 k
    w.release()
    _corrupt_avi_frames(path, bad)
    frames = list(open_video(path, on_error="skip"))
    assert [f.number for f in frames] == list(range(1, 13))
    for f in frames:
        assert (f.image is None) == (f.number in bad)
        if f.image is not None:
            assert abs(f.image.mean() - 20 * f.number) < 3
    with pytest.raises(VideoError, match=rf"v.avi: frame {bad[0]} cannot be decoded"):
        list(open_video(path))


# -- MOT rows ------------------------------------------------------------------------------
def test_mot_round_trip(tmp_path):
    t = Tracks(np.array([1, 1, 2]), np.array([3, 1, 1]), np.array([[0, 0, 10, 5], [2, 3, 9.5, 7], [3, 3, 10, 8]], float),
               np.array([1.0, 0.5, 0.25]), np.array([0, 1, 1]))
    write_mot(tmp_path / "t.txt", t)
    r = read_mot(tmp_path / "t.txt")
    assert list(r.frames) == [1, 1, 2] and list(r.ids) == [1, 3, 1]  # sorted by (frame, id)
    assert np.allclose(r.boxes[1], [0, 0, 10, 5]) and list(r.classes) == [1, 0, 1]
    assert list(r.by_frame()) == [1, 2] and len(r.frame(2)) == 1


def test_mot_formats(tmp_path):
    (tmp_path / "satmtb.txt").write_text("1,7,10,20,5,4,1,2,3,0,0\n")
    (tmp_path / "mot.txt").write_text("1,7,10,20,5,4,0.9,-1,-1,-1\n")
    (tmp_path / "mot16.txt").write_text("1,7,10,20,5,4,1,1,0.8\n")
    assert read_mot(tmp_path / "satmtb.txt").classes[0] == 2
    assert read_mot(tmp_path / "mot.txt").classes[0] == -1
    assert read_mot(tmp_path / "mot16.txt").classes[0] == -1  # MOTChallenge's class 1 is not an airplane
    assert np.allclose(read_mot(tmp_path / "mot.txt").boxes[0], [10, 20, 15, 24])


@pytest.mark.parametrize("text, match", [
    ("1,1,0,0,5,5\n1,2,0,0,x,5\n", "bad.txt:2: non-numeric"),
    ("1,1,0,0,5\n", "bad.txt:1: expected at least 6 columns"),
    ("0,1,0,0,5,5\n", "bad.txt:1: frame must be an integer >= 1"),
    ("1,1,0,0,0,5\n", "bad.txt:1: box width and height must be positive"),
    ("1,1,0,0,5,5\n2,1,0,0,5,5\n1,1,3,3,5,5\n", "bad.txt:3: duplicate id 1 in frame 1 .also line 1."),
])
def test_mot_errors_name_file_and_line(tmp_path, text, match):
    (tmp_path / "bad.txt").write_text(text)
    with pytest.raises(MotFormatError, match=match):
        read_mot(tmp_path / "bad.txt")


def test_init_boxes(tmp_path):
    (tmp_path / "b.txt").write_text("# frame,x1,y1,x2,y2,class\n1,10,10,20,15,car\n5,1,2,3,4\n")
    boxes = read_init_boxes(tmp_path / "b.txt")
    assert list(boxes) == [1, 5] and boxes[1][1][0] == 0 and boxes[5][1][0] == -1
    (tmp_path / "c.txt").write_text("1,10,10,5,15\n")
    with pytest.raises(MotFormatError, match="c.txt:1: box needs x2 > x1"):
        read_init_boxes(tmp_path / "c.txt")


# -- SAT-MTB -------------------------------------------------------------------------------
def _seg_doc():
    return {
        "images": [{"height": 20, "width": 30}],
        "categories": [{"id": 1, "name": "WA", "supercategory": "airplane"}, {"id": 2, "name": "LC", "supercategory": ""}],
        "annotations": [
            {"id": 4, "category_id": 1, "segmentation": [[2, 2, 12, 2, 12, 8, 2, 8]], "bbox": [2, 2, 12, 8]},
            {"id": 5, "category_id": 2, "segmentation": [[20, 10, 25, 10, 25, 14, 20, 14]], "bbox": [20, 10, 25, 14]},
        ],
    }


def test_seg_json(tmp_path):
    (tmp_path / "000001.json").write_text(json.dumps(_seg_doc()))
    objs = read_seg_json(tmp_path / "000001.json")
    assert [o.cls for o in objs] == [1, 0]  # airplane from supercategory, car from the fine name
    assert objs[0].mask.shape == (20, 30)
    assert np.allclose(tight_box(objs[0].mask), [2, 2, 13, 9], atol=1)
    doc = _seg_doc()
    doc["annotations"][1]["segmentation"] = []
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(SegFormatError, match=r"bad.json: annotation 1 \(id 5\)"):
        read_seg_json(tmp_path / "bad.json")


def test_sequence_reader_reports_holes_and_converter(tmp_path):
    seq = tmp_path / "airplane" / "12"
    (seq / "img").mkdir(parents=True)
    (seq / "seg").mkdir()
    for n in range(1, 9):
        cv2.imwrite(str(seq / "img" / f"{n:06d}.png"), np.zeros((20, 30, 3), np.uint8))
        if n != 5:
            (seq / "seg" / f"{n:06d}.json").write_text(json.dumps(_seg_doc()))
    s = read_sequence(seq)
    assert s.mot is None and s.missing == ["MOT rows"]
    report = convert_satmtb([seq], tmp_path / "train", every=4)
    assert report["written"] == 1 and report["frames_without_seg"] == 1  # frames 1 and 5; 5 has no seg
    ds = RosSamDataset(tmp_path / "train")
    item = ds[0]
    assert item["masks"].shape == (2, 20, 30) and list(item["classes"]) == [1, 0]
    assert len(RosSamDataset(tmp_path / "train", exclude_classes=["car"])[0]["boxes"]) == 1


def test_layout_skips_and_strictness(tmp_path):
    img = np.zeros((10, 10, 3), np.uint8)
    m = np.zeros((2, 10, 10), bool)
    m[0, 1:3, 1:3] = m[1, 5:7, 5:7] = True
    write_sample(tmp_path, "good", img, [[1, 1, 3, 3], [5, 5, 7, 7]], m, [1, 2])
    write_sample(tmp_path, "mismatch", img, [[1, 1, 3, 3]], m, [1])
    np.save(tmp_path / "onehotmask" / "mismatch.npy", (m * 255).astype(np.uint8))
    write_sample(tmp_path, "empty", img, np.zeros((0, 4)), np.zeros((0, 10, 10)), [])
    ds = RosSamDataset(tmp_path)
    assert ds.names == ["good"] and set(ds.skipped) == {"mismatch", "empty"}
    assert "1 boxes but 2 masks" in ds.skipped["mismatch"]
    with pytest.raises(LayoutError, match="mismatch: 1 boxes but 2 masks"):
        RosSamDataset(tmp_path, strict=True)


# -- synthetic clips -----------------------------------------------------------------------
def test_generator_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        write_clip(d, ClipConfig(frames=3, objects=5, size=128, seed=9), progress=False)
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(a / "clip.avi") == digest(b / "clip.avi")
    assert digest(a / "gt.txt") == digest(b / "gt.txt")
    assert digest(a / "masks" / "000003.png") == digest(b / "masks" / "000003.png")


def test_every_mask_matches_its_box(clip_dir):
    gt = read_mot(clip_dir / "gt.txt")
    assert len(gt) > 0
    for frame, t in gt.by_frame().items():
        ids = cv2.imread(str(clip_dir / "masks" / f"{frame:06d}.png"), cv2.IMREAD_UNCHANGED)
        assert ids.dtype == np.uint16
        assert set(np.unique(ids)) - {0} == set(t.ids.tolist())
        for i, box in zip(t.ids, t.boxes):
            assert np.allclose(tight_box(ids == i), box)
    ds = RosSamDataset(clip_dir / "rossam")
    assert len(ds) == 3  # frames 1, 5, 9
    item = ds[0]
    for m, b in zip(item["masks"], item["boxes"]):
        assert np.allclose(tight_box(m), b)


def test_jilin_preset_cars_move_about_their_length_per_frame():
    from data.synthetic.__main__ import preset_config

    cfg = preset_config("jilin", size=256, objects=30, frames=3, seed=2)
    assert cfg.classes == ("car",) and cfg.step == 5 and cfg.frames == 3
    clip = SyntheticClip(cfg)
    frames = list(clip)
    boxes = [boxes_from_ids(ids) for _, _, ids in frames]
    moved, longer = [], []
    for oid, b in boxes[0].items():
        if oid in boxes[1]:
            moved.append(np.linalg.norm((boxes[1][oid][:2] + boxes[1][oid][2:] - b[:2] - b[2:]) / 2))
            longer.append(max(b[2] - b[0], b[3] - b[1]))
    assert len(moved) >= 20
    assert 3 <= np.median(longer) <= 7 and np.median(moved) >= 0.8 * np.median(longer)
    # step 1 (the default) moves the same cars five times less
    slow = SyntheticClip(preset_config("jilin", size=256, objects=30, frames=3, seed=2, step=1))
    assert np.allclose([m.speed * 5 for m in slow.movers], [m.speed for m in clip.movers])



def _beside_pairs(clip: SyntheticClip) -> int:
    """Movers of the first frame on an earlier one's exact course, 1.4-2.2 of its widths to its side."""
    from data.synthetic.shapes import object_width

    first = [m for m in clip.movers if m.start == 1]
    count = 0
    for m in first:
        side = np.array([-np.sin(m.heading), np.cos(m.heading)])
        offsets = [abs(np.dot(m.pos - o.pos, side)) / object_width(o.parts)
                   for o in first if o.id < m.id and o.heading == m.heading]
        count += any(1.4 - 1e-6 <= x <= 2.2 + 1e-6 for x in offsets)
    return count


def test_close_pairs_is_the_chance_of_driving_beside_another_car():
    from data.synthetic.clip import ClipConfig

    base = dict(classes=("car",), objects=40, frames=2, size=256, seed=4)
    assert _beside_pairs(SyntheticClip(ClipConfig(**base, close_pairs=1.0))) >= 10
    assert _beside_pairs(SyntheticClip(ClipConfig(**base, close_pairs=0.0))) == 0
    with pytest.raises(ValueError, match="chances"):
        ClipConfig(close_pairs=1.5)


def test_a_turn_radius_keeps_long_objects_from_pivoting_faster_than_they_move():
    """By default a turn is a rigid pivot at any rate (the default clip's 270 px train swings its
    ends 11 px a frame while it moves 2); with ``turn_radius`` a turn's rate is at most speed /
    (radius x length), the same angle over more frames, and nothing else of the clip changes."""
    from data.synthetic.clip import ClipConfig, _hull

    def turns(**kw):
        clip = SyntheticClip(ClipConfig(seed=2, frames=100, objects=20, **kw))
        out = {}
        for m in clip.movers:
            hull = _hull(m.parts, np.zeros(2), 0.0).reshape(-1, 2)
            out[m.id] = (m.cls, m.speed, float(np.ptp(hull[:, 0])), m.turn_rate, m.turn_frames, m.turn_at, m.heading)
        return out

    pivot, radius = turns(), turns(turn_radius=1.0)
    assert pivot.keys() == radius.keys()
    swung = 0
    for k, (cls, speed, length, rate, frames, at, heading) in pivot.items():
        r = radius[k]
        assert (r[0], r[1], r[5], r[6]) == (cls, speed, at, heading)  # the same objects, starts and courses
        assert r[3] * r[4] == pytest.approx(rate * frames)  # the same angle
        assert abs(r[3]) <= speed / length + 1e-9
        swung += abs(rate) > speed / length
    assert swung >= 3  # the train and two ships pivot faster than that by default
    with pytest.raises(ValueError, match="turn_radius"):
        ClipConfig(turn_radius=-1)

# -- augmentations -------------------------------------------------------------------------
@st.composite
def samples(draw):
    h, w = draw(st.integers(8, 64)), draw(st.integers(8, 64))
    n = draw(st.integers(0, 4))
    masks = np.zeros((n, h, w), bool)
    for k in range(n):
        y, x = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        masks[k, y : y + draw(st.integers(1, 10)), x : x + draw(st.integers(1, 10))] = True
    img = np.full((h, w, 3), 80, np.uint8)
    boxes = np.stack([tight_box(m) for m in masks]) if n else np.zeros((0, 4))
    return Sample(img, masks, boxes, np.arange(n))


@settings(max_examples=60, deadline=None)
@given(samples(), st.integers(0, 2**31 - 1))
def test_every_box_is_its_masks_tight_box_after_any_transform(s, seed):
    rng = np.random.default_rng(seed)
    for out in (augment(s, 32, rng), large_scale_jitter(s, 24, rng), diagonal_flip(s)):
        assert len(out.boxes) == len(out.masks) == len(out.classes)
        for m, b in zip(out.masks, out.boxes):
            assert m.any() and np.allclose(tight_box(m), b)
    assert augment(s, 32, rng).image.shape == (32, 32, 3)


def test_layout_windows_for_training(clip_dir):
    from data.rossam_layout import LayoutWindows
    from rossam.variants import get_variant

    ds = LayoutWindows(clip_dir / "rossam", get_variant("tiny"), seed=1)
    item = ds[0]
    assert item["image"].shape == (3, 256, 256) and item["masks"].shape[1:] == (256, 256)
    assert 1 <= len(item["boxes"]) <= 4
    for m, b in zip(item["masks"].numpy(), item["boxes"].numpy()):
        assert np.allclose(tight_box(m), b, atol=1)


def test_adaptive_zoom_crops_hold_the_target_like_the_predictor():
    from functools import partial

    from data.masks import tight_box
    from data.windows import SyntheticWindows
    from rossam.windows import window_sizes

    sizes = partial(window_sizes, window=128)
    cropped = SyntheticWindows(40, 128, 256, seed=5, crop_sizes=sizes, crop_fraction=1.0)
    plain = SyntheticWindows(40, 128, 256, seed=5)
    smaller = 0
    for i in range(40):
        a, b = cropped[i], plain[i]
        assert a["image"].shape == (3, 256, 256) and len(a["boxes"]) == len(a["masks"]) >= 1
        # the zoom factor is the one the predictor picks for the target's size in the window
        side = float((b["boxes"][0, 2:] - b["boxes"][0, :2]).max()) / 2  # window px
        size = int(sizes(np.array([[0, 0, side, side]]))[0])
        for box, mask in zip(a["boxes"].numpy(), a["masks"].numpy().astype(bool)):
            assert np.abs(box - tight_box(mask)).max() <= 256 / size  # masks resized nearest: a source pixel
        target = a["boxes"][0].numpy()
        assert np.max(target[2:] - target[:2]) == pytest.approx(side * 256 / size, abs=256 / size + 1e-3)
        # cropped: inside the window's margins (an eighth of it), where a shared window keeps it
        assert size == 128 or target.min() >= 256 / 8 - 256 / size - 1e-3 and target.max() <= 256 * 7 / 8 + 256 / size + 1e-3
        smaller += size < 128
    assert smaller >= 10  # small targets are common: the crops are exercised
    assert (SyntheticWindows(3, seed=5)[2]["image"] == plain[2]["image"]).all()  # off by default, unchanged


# -- mask clean-up -------------------------------------------------------------------------
def _airplane():
    """A hand-made 100 px airplane: body, one wing cut from it by a 1 px seam, a hole where a
    dark window was, and a piece of shadow 20 px off."""
    m = np.zeros((140, 140), bool)
    m[20:120, 65:75] = True  # body
    m[60:70, 20:65] = True  # left wing, joined
    m[60:70, 76:120] = True  # right wing, a 1 px seam at x = 75
    m[40:44, 68:72] = False  # a hole in the body
    shadow = np.zeros_like(m)
    shadow[100:115, 100:118] = True  # 10+ px from the body and wing
    return m, shadow, np.array([20.0, 20.0, 120.0, 120.0])


def test_clean_mask_keeps_the_object_and_drops_pieces_beside_it():
    from data.masks import clean_mask

    body, shadow, box = _airplane()
    mask = body | shadow
    assert np.array_equal(clean_mask(mask, box, "all"), mask)
    centre = clean_mask(mask, box, "centre")
    assert np.array_equal(centre, body)  # the wing across the seam stays, the shadow goes
    largest = clean_mask(mask, box, "largest")
    assert not largest[65, 100] and largest[30, 70]  # the cut wing is lost: why centre is the default
    filled = clean_mask(mask, box, "centre", fill_holes=True)
    assert filled[41, 70] and filled[65, 75]  # the hole and the seam are object
    assert not filled[105, 110] and not filled[30, 30]  # nothing outside the airplane is added
    assert np.all(filled >= body)
    # closing the 3 px gap rounds the inner corners a little, nothing more: every added pixel
    # lies within 3 px of the object
    near = cv2.dilate(body.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert np.all(near[filled]) and filled.sum() - body.sum() < 0.03 * body.sum()


def test_clean_mask_small_objects_keep_their_neighbours_apart():
    """A 10 px car 2 px from the next one in a parking row: no gap is bridged below ~33 px."""
    from data.masks import clean_mask

    m = np.zeros((40, 40), bool)
    m[10:20, 10:15] = True
    m[10:20, 17:22] = True
    assert np.array_equal(clean_mask(m, [9, 9, 16, 21], "centre", fill_holes=True), m & (np.arange(40) < 15)[None])
    # no part at the centre: the largest part is kept
    assert clean_mask(m, [30, 30, 39, 39], "centre").sum() == 50
    with pytest.raises(ValueError, match="keep must be one of"):
        clean_mask(m, [0, 0, 5, 5], "biggest")


def test_a_compact_mask_becomes_its_rectangle_and_an_airplane_keeps_its_shape():
    from data.masks import rectangle_if_compact

    # a car at 30 degrees whose mask lost its dark windscreen and rear window
    car = np.zeros((80, 80), np.uint8)
    corners = cv2.boxPoints(((40, 40), (36, 16), 30)).astype(np.float32)
    cv2.fillPoly(car, [np.round(corners).astype(np.int32)], 1)
    car = car > 0
    partial = car.copy()
    ys, xs = np.nonzero(car)
    along = (xs - 40) * np.cos(np.pi / 6) + (ys - 40) * np.sin(np.pi / 6)
    partial[ys[np.abs(along - 6) < 2], xs[np.abs(along - 6) < 2]] = False  # the windscreen
    partial[ys[np.abs(along + 10) < 1.5], xs[np.abs(along + 10) < 1.5]] = False  # the rear window
    box = np.r_[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1].astype(float)
    out = rectangle_if_compact(partial, box)
    iou = lambda a, b: (a & b).sum() / (a | b).sum()  # noqa: E731
    assert iou(out, car) > 0.9 and iou(out, car) > iou(partial, car) + 0.1
    assert not out[:, : int(box[0])].any() and not out[: int(box[1])].any()  # inside the box
    body, _, abox = _airplane()
    assert np.array_equal(rectangle_if_compact(body, abox), body)  # wings: not compact
    assert not rectangle_if_compact(np.zeros((9, 9), bool), [0, 0, 9, 9]).any()


# -- generated objects ---------------------------------------------------------------------
def test_a_generated_objects_mask_covers_its_dark_parts():
    """Cars' windows, trucks' cabs, boats' cockpits are darker than the body around them, and
    inside the object's mask: the mask is the whole object, not its brightest even part."""
    from data.synthetic.render import draw_object, rasterize
    from data.synthetic.shapes import car, place, ship

    covered, darker = [], []
    for k in range(40):
        rng = np.random.default_rng([3, k])
        parts = place((car if k % 2 else ship)(rng, 24.0), 32.0, 32.0, rng.uniform(0, 2 * np.pi))
        image = np.full((64, 64, 3), 120, np.float32)
        mask, x0, y0 = draw_object(image, parts, np.array([230.0, 230, 230]), rng=rng)
        full = np.zeros((64, 64), bool)
        full[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]] = mask
        grey = image.mean(axis=2)
        for p in parts[1:]:
            inner = rasterize([p.polygon], 0, 0, 64, 64) > 0.99
            if p.colour is not None and inner.sum() >= 3 and np.max(p.colour) < 60:
                covered.append(full[inner].all())
                darker.append(grey[inner].mean() < 0.5 * grey[full & ~inner].mean())
    assert len(covered) >= 20  # windows and cockpits are common
    assert all(covered) and all(darker)


def test_training_windows_hold_aerial_cars_as_well_as_buses_and_trucks():
    """A training window has no scale of its own: a vehicle of 20 px there is an aerial car (a
    real 0.3 m image's) as often as a bus. Cars are about half as wide as long, buses and trucks
    about a third; both kinds are drawn at every size of 10 px or more."""
    import cv2

    from data.synthetic.patches import sample_patch

    aspects = []
    for k in range(80):
        p = sample_patch(np.random.default_rng([7, k]), 128, classes=("car",))
        x1, y1, x2, y2 = p.boxes[0]
        if max(x2 - x1, y2 - y1) < 16:
            continue
        ys, xs = np.nonzero(p.masks[0])
        (_, _), (w, h), _ = cv2.minAreaRect(np.c_[xs, ys].astype(np.float32))
        aspects.append(min(w, h) / max(w, h))
    aspects = np.array(aspects)
    assert len(aspects) >= 30
    assert (aspects >= 0.41).mean() >= 0.4  # cars
    assert (aspects <= 0.39).mean() >= 0.15  # buses, vans and trucks


def test_a_buses_roof_reaches_its_long_edges():
    """Seen from above, a bus's side windows are under its roof, out of sight: along its long
    edges the body is as bright as along its middle. (Dark rows of windows inside both edges
    taught the model that a dark band beside a bright roof, a real bus's shadow, is the bus.)"""
    from data.synthetic.render import draw_object
    from data.synthetic.shapes import car, object_width, place

    ratios = []
    for k in range(30):
        rng = np.random.default_rng([11, k])
        parts = car(rng, 60.0, long_body=True)
        half = object_width(parts) / 2
        image = np.full((96, 96, 3), 90, np.float32)
        mask, x0, y0 = draw_object(image, place(parts, 48.0, 48.0, 0.0), np.array([225.0, 225, 225]), rng=rng)
        full = np.zeros((96, 96), bool)
        full[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]] = mask
        grey = image.mean(axis=2)
        ys, xs = np.mgrid[:96, :96] + 0.5
        along = np.abs(xs - 48) < 18  # the middle 60% of its length
        edges = full & along & (np.abs(ys - 48) > half - 0.3 * half) & (np.abs(ys - 48) < half - 1)
        middle = full & along & (np.abs(ys - 48) < 0.3 * half)
        assert edges.sum() >= 20 and middle.sum() >= 20
        ratios.append(np.median(grey[edges]) / np.median(grey[middle]))
    assert min(ratios) > 0.75


def test_parked_long_vehicles_stand_a_fraction_of_their_width_apart_and_some_rows_are_fleets():
    """A depot's buses stand a third of their width apart or less, not two widths (gaps drawn in
    cars' units); some rows are a fleet of one paint, told apart only by the gaps between them."""
    import cv2
    from scipy.ndimage import distance_transform_edt

    from data.synthetic.patches import sample_patch

    gaps, fleets, rows = [], 0, 0
    for k in range(400):
        p = sample_patch(np.random.default_rng([9, k]), 128, classes=("car",))
        if len(p.masks) < 4:
            continue
        rows += 1
        target = p.masks[0]
        ys, xs = np.nonzero(target)
        (_, _), (w, h), _ = cv2.minAreaRect(np.c_[xs, ys].astype(np.float32))
        # a vehicle's paint: the upper quartile of its pixels (past its windows and shading)
        paint = [np.percentile(p.image[m], 75, axis=0) for m in p.masks if m.sum() >= 20]
        if len(paint) >= 4 and np.mean([np.abs(c - paint[0]).max() < 30 for c in paint[1:]]) >= 0.75:
            fleets += 1
        if max(w, h) >= 30 and min(w, h) / max(w, h) <= 0.39:  # a bus, van or truck
            gaps.append(distance_transform_edt(~target)[p.masks[1:].any(axis=0)].min() / min(w, h))
    assert len(gaps) >= 10 and rows >= 60
    assert np.median(gaps) < 0.5
    assert fleets / rows >= 0.1


def test_training_windows_cast_shadows_from_faint_to_near_black():
    """A real sunny car park's shadows between parked buses are near black; a hazy day's are
    faint. Right beside a window's target (where its shadow falls), the darkest ground is a fifth
    of the open ground's brightness or less in some windows and more than half in others."""
    import cv2

    from data.synthetic.patches import sample_patch

    ratios = []
    for k in range(60):
        p = sample_patch(np.random.default_rng([8, k]), 128, classes=("car",))
        grey = cv2.cvtColor(p.image, cv2.COLOR_RGB2GRAY).astype(float)
        target = p.masks[0].astype(np.uint8)
        if target.sum() < 40:
            continue
        others = p.masks[1:].any(axis=0) if len(p.masks) > 1 else np.zeros_like(p.masks[0])
        near = cv2.dilate(target, np.ones((7, 7), np.uint8)).astype(bool) & ~target.astype(bool) & ~others
        ground = ~cv2.dilate(p.masks.any(axis=0).astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
        if near.sum() < 10 or ground.sum() < 100:
            continue
        ratios.append(np.percentile(grey[near], 5) / max(np.median(grey[ground]), 1.0))
    ratios = np.array(ratios)
    assert len(ratios) >= 30
    assert (ratios <= 0.2).mean() >= 0.1  # near-black shadows
    assert (ratios >= 0.5).mean() >= 0.1  # faint ones


def test_patches_hold_marinas_and_multi_coloured_objects():
    from data.synthetic.patches import sample_patch

    boats = [sample_patch(np.random.default_rng([4, k]), 128, classes=("ship",)) for k in range(30)]
    assert max(len(p.masks) for p in boats) >= 8  # boats moored side by side in rows
    for p in boats:
        assert p.masks.any(axis=(1, 2)).all()
        assert not (p.masks.sum(axis=0) > 1).any()  # one object per pixel


def test_layout_windows_keep_their_target_when_jitter_shrinks_objects(tmp_path):
    """Large-scale jitter shrinks a small object below 4 px most of the time: a window is never
    cut around nothing, and its first box is always the object it was cut around."""
    from data.rossam_layout import LayoutWindows, write_sample
    from rossam.variants import get_variant

    rng = np.random.default_rng(0)
    image = rng.integers(60, 200, (300, 300, 3), dtype=np.uint8)
    masks = np.zeros((2, 300, 300), bool)
    masks[0, 40:45, 40:45] = True  # 25 px: often under 4 px after a shrink
    masks[1, 200:260, 180:270] = True
    write_sample(tmp_path / "split", "a", image, [tight_box(m) for m in masks], masks, [1, 2])
    only_small = masks[:1].copy()
    write_sample(tmp_path / "split", "b", image, [tight_box(only_small[0])], only_small, [1])
    variant = get_variant("tiny")
    ds = LayoutWindows(tmp_path / "split", variant, seed=3)
    centre = variant.img_size / 2
    for epoch in range(25):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            target = item["boxes"][0].numpy()
            assert item["masks"][0].sum() >= 4
            assert np.all(np.abs((target[:2] + target[2:]) / 2 - centre) <= 0.2 * variant.img_size), (epoch, i, target)

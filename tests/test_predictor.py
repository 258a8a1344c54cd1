"""Crop-and-zoom geometry, shared windows, batching and input validation of BoxPredictor."""

import cv2
import numpy as np
import pytest
import torch

from rossam import BoxPredictor
from rossam.decoder import DecoderOutput
from rossam.windows import plan_windows, validate_boxes, window_sizes


def _box_echo(model, grow: float = 0.0):
    """Make the decoder answer each box with its own signed distance (in encoder pixels), so
    that the predicted mask must be exactly the box if the geometry is right (``grow``: the box
    grown by this share of its size, a mask spilling past its prompt)."""
    size = model.variant.img_size
    res = size // 4

    def decode(emb, early, window_index, boxes, **kw):
        c = (torch.arange(res, dtype=torch.float32) + 0.5) * (size / res)
        x, y = c[None, None, :], c[None, :, None]
        wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2) * torch.tensor([-grow, -grow, grow, grow])
        b = (boxes + wh)[:, :, None, None]
        sdf = torch.minimum(torch.minimum(x - b[:, 0], b[:, 2] - x), torch.minimum(y - b[:, 1], b[:, 3] - y))
        logits = sdf[:, None]
        return DecoderOutput(logits, logits, logits, torch.ones(len(boxes), 1))

    model.decode = decode
    return model


@pytest.mark.parametrize("box", [
    [0, 0, 20, 14],            # corner
    [1000, 500, 1024, 530],    # right edge
    [400, 1010, 460, 1024],    # bottom edge
    [500, 500, 503, 503],      # 3 x 3 px
    [100, 200, 400, 420],      # larger than the 128 px window
    [-30, 900, 40, 960],       # partly outside: clamped
])
def test_masks_land_in_place(tiny_random, box):
    pred = BoxPredictor(_box_echo(tiny_random), clip=False).predict(np.zeros((1024, 1024, 3), np.uint8), [box])
    m = pred.full_mask(0)
    x1, y1, x2, y2 = np.clip(box, 0, 1024)
    truth = np.zeros_like(m)
    truth[y1:y2, x1:x2] = True
    inter, union = (m & truth).sum(), (m | truth).sum()
    assert inter / union >= (0.5 if (x2 - x1) < 5 else 0.85), inter / union
    assert np.abs(pred.boxes[0] - [x1, y1, x2, y2]).max() <= 1.0


def test_a_mask_spilling_past_its_box_is_clipped_to_it(tiny_random):
    """The decoder answers each box with the box grown by a fifth on every side (spill onto a
    neighbour): by default the mask ends a pixel outside the box; with clip=False it spills."""
    box = [300, 400, 340, 420]
    image = np.zeros((1024, 1024, 3), np.uint8)
    clipped = BoxPredictor(_box_echo(tiny_random, grow=0.2)).predict(image, [box])
    spilled = BoxPredictor(_box_echo(tiny_random, grow=0.2), clip=False).predict(image, [box])
    assert np.all(clipped.boxes[0] == [299, 399, 341, 421])
    assert spilled.boxes[0][0] <= 294 and spilled.boxes[0][2] >= 346
    assert clipped.full_mask(0).sum() < spilled.full_mask(0).sum()


@pytest.mark.parametrize("adaptive", [False, True])
def test_shared_windows_place_every_object(tiny_random, adaptive):
    rng = np.random.default_rng(0)
    centres = rng.uniform(50, 950, (5, 2))
    boxes = []
    for i in range(30):
        c = centres[i % 5] + rng.uniform(-30, 30, 2)
        s = rng.uniform(3, 12, 2)
        boxes.append([c[0] - s[0], c[1] - s[1], c[0] + s[0], c[1] + s[1]])
    boxes = np.array(boxes)
    shared = BoxPredictor(_box_echo(tiny_random), adaptive_zoom=adaptive, clip=False).predict(np.zeros((1024, 1024, 3), np.uint8), boxes)
    assert len(shared.windows) < (30 if adaptive else 15)  # small windows rarely hold two objects
    sizes = window_sizes(boxes, 128)
    for i, b in enumerate(boxes):
        if adaptive:
            assert shared.windows[shared.window_index[i]].size == sizes[i]
        assert np.abs(shared.boxes[i] - np.round(b)).max() <= 1.5, i
        w = shared.windows[shared.window_index[i]]
        assert w.x0 <= b[0] and b[2] <= w.x0 + w.size and w.y0 <= b[1] and b[3] <= w.y0 + w.size


def test_batching_never_changes_a_result(tiny_random):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 40, 30], [300, 200, 330, 260], [700, 500, 760, 590], [400, 50, 480, 90], [200, 400, 260, 460]], float)
    one = BoxPredictor(tiny_random, batch_size=1).predict(image, boxes)
    many = BoxPredictor(tiny_random, batch_size=8).predict(image, boxes)
    assert np.allclose(one.iou, many.iou, atol=1e-5)
    for a, b in zip(one.masks, many.masks):
        assert a.shape == b.shape and (a != b).mean() < 1e-3


def test_sharing_reduces_encoder_passes(tiny_random):
    boxes = np.array([[100, 100, 110, 108], [115, 100, 125, 108], [100, 120, 110, 128], [600, 600, 610, 608]], float)
    img = np.zeros((1024, 1024, 3), np.uint8)
    shared = BoxPredictor(tiny_random, adaptive_zoom=False)
    alone = BoxPredictor(tiny_random, adaptive_zoom=False, share_windows=False)
    assert len(shared.predict(img, boxes).windows) == 2
    assert len(alone.predict(img, boxes).windows) == 4


@pytest.mark.parametrize("box, match", [
    ([10, 10, 10, 20], "box 1 has no area"),
    ([30, 10, 20, 20], "box 1 has no area"),
    ([np.nan, 1, 5, 5], "box 1 is not finite"),
    ([2000, 2000, 2010, 2010], "box 1 lies outside"),
])
def test_bad_boxes_name_their_index(tiny_random, box, match):
    with pytest.raises(ValueError, match=match):
        BoxPredictor(tiny_random).predict(np.zeros((100, 100, 3), np.uint8), [[1, 1, 5, 5], box])


def test_bad_image_and_empty_boxes(tiny_random):
    p = BoxPredictor(tiny_random)
    with pytest.raises(ValueError, match="RGB uint8"):
        p.predict(np.zeros((10, 10), np.uint8), [[1, 1, 5, 5]])
    out = p.predict(np.zeros((10, 12, 3), np.uint8), np.zeros((0, 4)))
    assert len(out) == 0 and out.full_masks().shape == (0, 10, 12)


def test_window_sizes_zoom_small_objects_and_keep_large_ones():
    boxes = np.array([[0, 0, 6, 4], [0, 0, 20, 10], [0, 0, 40, 5], [0, 0, 80, 30], [0, 0, 300, 20]], float)
    sizes = window_sizes(boxes, 128)
    assert sizes.tolist() == [32, 32, 64, 128, 128]
    assert np.all(sizes >= 1.4 * np.minimum(np.max(boxes[:, 2:] - boxes[:, :2], axis=1), 128 / 1.4))
    assert window_sizes(np.zeros((0, 4)), 128).shape == (0,)


def test_plan_windows_share_only_within_a_size():
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 500, (120, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(2, 60, (120, 2))], 1)
    sizes = window_sizes(boxes, 128)
    windows, index = plan_windows(boxes, 128, 16, sizes=sizes)
    assert len(set(index.tolist())) == len(windows)
    for i, b in enumerate(boxes):
        w = windows[index[i]]
        m = 16 * w.size / 128
        assert w.size == sizes[i]
        assert w.x0 + m - 1 <= b[0] and b[2] <= w.x0 + w.size - m + 1
        assert w.y0 + m - 1 <= b[1] and b[3] <= w.y0 + w.size - m + 1


def test_plan_windows_keeps_groups_within_the_window():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 1000, (200, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(2, 30, (200, 2))], 1)
    windows, index = plan_windows(validate_boxes(boxes, 1100, 1100), 128, 16)
    for i, b in enumerate(boxes):
        w = windows[index[i]]
        assert w.x0 + 16 - 1 <= b[0] and b[2] <= w.x0 + w.size - 16 + 1
        assert w.y0 + 16 - 1 <= b[1] and b[3] <= w.y0 + w.size - 16 + 1


# -- one crop geometry for training and inference -----------------------------------------
@pytest.mark.parametrize("size", [128, 91, 64, 45, 32])  # tiny's window and its adaptive-zoom levels
@pytest.mark.parametrize("where", ["middle", "left edge", "top-right", "bottom-left", "bottom-right"])
def test_a_window_cut_a_box_mapped_in_and_a_mask_pasted_back_land_on_the_same_pixels(size, where):
    """The predictor's path (cut, boxes_in, paste) and the training datasets' (zoom,
    masks_in) over one object, anywhere in the frame, at every window size."""
    from data.masks import tight_box
    from data.windows import zoom
    from rossam.model import PIXEL_MEAN
    from rossam.windows import FILL, Window, object_window

    h, w, out = 150, 200, 256
    x, y = {"middle": (96, 70), "left edge": (0, 70), "top-right": (w - 9, 0), "bottom-left": (0, h - 5),
            "bottom-right": (w - 9, h - 5)}[where]
    box = np.array([x, y, x + 9, y + 5], float)
    frame = np.zeros((h, w, 3), np.uint8)
    frame[y : y + 5, x : x + 9] = 250
    mask = np.zeros((1, h, w), bool)
    mask[0, y : y + 5, x : x + 9] = True
    win = object_window(box, size)
    assert isinstance(win, Window) and win.size == size

    image_in, mask_in, box_in = win.cut(frame, out), win.masks_in(mask, out)[0], win.boxes_in(box, out)[0]
    # the mask mapped in has the mapped box as its box, to the pixel
    assert np.abs(tight_box(mask_in) - box_in).max() <= 0.5 + 1e-9
    # the image's object is where the mask is, but for a source pixel along its outline
    # (bicubic blurs the step over one source pixel)
    bright = image_in[..., 0] > 187  # half-way from the brighter of ground and fill to the object
    k = np.ones((2 * int(np.ceil(out / size)) + 1,) * 2, np.uint8)
    edge = cv2.dilate(mask_in.astype(np.uint8), k) != cv2.erode(mask_in.astype(np.uint8), k)
    assert not np.any((bright != mask_in) & ~edge)
    # outside the frame: SAM's pixel mean, which normalises to zero
    assert FILL == tuple(int(round(v)) for v in PIXEL_MEAN)
    if win.x0 < 0:
        assert np.all(image_in[:, 0] == FILL)

    # pasted back: logits of the mapped mask give the frame mask (exactly where the zoom is a
    # whole number; within a pixel of the outline otherwise)
    logits = torch.from_numpy(np.where(mask_in, 1.0, -1.0).astype(np.float32))
    pasted, (ox, oy) = win.paste(logits, (h, w))
    full = np.zeros((h, w), bool)
    full[oy : oy + pasted.shape[0], ox : ox + pasted.shape[1]] = pasted
    if out % size == 0:
        assert np.array_equal(full, mask[0])
    else:
        ring = cv2.dilate(mask[0].astype(np.uint8), np.ones((3, 3))) != cv2.erode(mask[0].astype(np.uint8), np.ones((3, 3)))
        assert not np.any((full != mask[0]) & ~ring)

    # the training path: a window cut at its own size, then zoomed, is the same sample
    image_t, masks_t, boxes_t = zoom(win.cut(frame, size), win.masks_in(mask, size), win.boxes_in(box, size), out)
    assert np.array_equal(image_t, image_in) and np.array_equal(masks_t[0], mask_in)
    assert np.allclose(boxes_t[0], box_in, atol=1e-4)


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(True, False, "bf16"), (False, True, "bf16"), (False, False, "float32")])
def test_auto_precision_is_bf16_only_where_the_cpu_has_it(monkeypatch, avx512_bf16, amx, expected):
    from rossam.predictor import autocast_for, resolve_precision

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    cpu = torch.device("cpu")
    assert resolve_precision(cpu, "auto") == expected
    assert resolve_precision(cpu, "float32") == "float32" and resolve_precision(cpu, "bf16") == "bf16"
    with autocast_for(cpu, "auto"):
        assert torch.is_autocast_enabled("cpu") == (expected == "bf16")
    with pytest.raises(ValueError, match="precision"):
        resolve_precision(cpu, "fp16")


def test_bf16_masks_match_float32_masks():
    """The shipped weights in bf16 autocast segment generated objects as in float32."""
    from data.synthetic.patches import sample_patch
    from rossam import build_rossam
    from rossam.metrics import mask_iou

    model = build_rossam("tiny", "default").eval()
    f32, bf16 = BoxPredictor(model, precision="float32"), BoxPredictor(model, precision="bf16")
    agree, truth32, truth16 = [], [], []
    for i in range(24):
        p = sample_patch(np.random.default_rng([7, i]), 128)
        a, b = f32.predict(p.image, p.boxes[:1]), bf16.predict(p.image, p.boxes[:1])
        agree.append(mask_iou(a.full_mask(0), b.full_mask(0)))
        truth32.append(mask_iou(a.full_mask(0), p.masks[0]))
        truth16.append(mask_iou(b.full_mask(0), p.masks[0]))
        assert abs(a.iou[0] - b.iou[0]) < 0.05
    assert np.mean(agree) > 0.95 and min(agree) > 0.8
    assert abs(np.mean(truth32) - np.mean(truth16)) < 0.01

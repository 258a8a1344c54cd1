import numpy as np
import pytest

from rossam.metrics import boundary_band, boundary_iou, image_iou, mask_iou


def _square(r0, c0, n=4, shape=(10, 10)):
    m = np.zeros(shape, bool)
    m[r0 : r0 + n, c0 : c0 + n] = True
    return m


def test_mask_iou_hand_computed():
    a, b = _square(2, 2), _square(2, 3)
    assert mask_iou(a, b) == pytest.approx(12 / 20)  # 12 shared of 16 + 16 - 12
    assert mask_iou(a, np.zeros_like(a)) == 0.0
    assert mask_iou(np.zeros_like(a), np.zeros_like(a)) == 1.0
    with pytest.raises(ValueError, match="shapes differ"):
        mask_iou(a, a[:5])


def test_boundary_band_and_iou_hand_computed():
    # 10 x 10 image: d = max(1, round(0.02 * 14.1)) = 1, so the band is the outer ring of a square.
    a = _square(2, 2)
    band = boundary_band(a)
    assert band.sum() == 12 and not band[3:5, 3:5].any()
    # B is A shifted right by one column: the rings share 6 of 12 + 12 - 6 = 18 pixels.
    assert boundary_iou(a, _square(2, 3)) == pytest.approx(6 / 18)
    # a mask touching the image border keeps its border pixels in the band
    assert boundary_band(_square(0, 0, 3)).sum() == 8


def test_boundary_width_follows_the_diagonal():
    m = np.zeros((200, 200), bool)
    m[50:150, 50:150] = True
    # d = round(0.02 * 282.8) = 6: a ring 6 px wide
    assert boundary_band(m).sum() == 100 * 100 - 88 * 88


def test_image_iou_is_union_against_union():
    preds = np.stack([_square(0, 0, 2), _square(5, 5, 2)])
    gts = np.stack([_square(0, 0, 2), _square(5, 5, 3)])
    assert image_iou(preds, gts) == pytest.approx(8 / 13)

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


def _paper_split(root):
    """Two images: A holds an exact square (box fill IoU 1) and a triangle of 55 px in a 10 x 10
    box (box fill IoU 0.55); B holds an exact 8 x 8 square and a car (left out)."""
    from data.rossam_layout import write_sample
    from data.masks import tight_box

    a = np.zeros((2, 40, 40), bool)
    a[0, 5:15, 5:15] = True
    i, j = np.mgrid[:10, :10]
    a[1, 20:30, 20:30] = i + j <= 9
    b = np.zeros((2, 40, 40), bool)
    b[0, 10:18, 10:18] = True
    b[1, 30:34, 30:36] = True
    img = np.full((40, 40, 3), 90, np.uint8)
    write_sample(root, "A", img, [tight_box(m) for m in a], a, [1, 2])
    write_sample(root, "B", img, [tight_box(m) for m in b], b, [2, 0])
    return a, b


def test_the_paper_protocol_scores_unions_of_masks_per_image(tmp_path):
    from benchmarks.baselines import BoxFillSegmenter
    from benchmarks.segmentation import evaluate_paper
    from rossam.metrics import boundary_iou

    a, b = _paper_split(tmp_path / "split")
    res = evaluate_paper(str(tmp_path / "split"), segmenter=BoxFillSegmenter())
    # A: predicted union 200 px, true union 155 px, all inside it: 0.775; B: 1 (its car is left out)
    assert res["images"] == 2 and res["objects"] == 3
    assert res["image_iou"] == pytest.approx((155 / 200 + 1.0) / 2)
    assert res["object_iou"] == pytest.approx((1.0 + 55 / 100 + 1.0) / 3)
    filled = a.copy()
    filled[1, 20:30, 20:30] = True
    assert res["image_biou"] == pytest.approx((boundary_iou(filled.any(0), a.any(0)) + 1.0) / 2)
    assert {"images", "objects", "image_iou", "image_biou", "object_iou"} <= set(res)


def test_the_paper_protocol_command_writes_its_json(tmp_path):
    import json

    from benchmarks.segmentation import main

    _paper_split(tmp_path / "split")
    assert main(["--protocol", "paper", "--data", str(tmp_path / "split"), "--json", str(tmp_path / "r.json")]) == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["images"] == 2 and res["objects"] == 3 and 0.0 <= res["image_iou"] <= 1.0
    assert main(["--protocol", "paper"]) == 2


def test_object_boundary_iou_uses_a_band_that_scales_with_the_object():
    from rossam.metrics import boundary_iou, mask_iou, object_boundary_iou

    gt = np.zeros((1000, 1000), bool)
    gt[500:512, 500:512] = True
    pred = np.zeros_like(gt)
    pred[501:513, 500:512] = True  # one row off
    # on the whole frame the band (28 px) swallows the 12 px object: boundary IoU = mask IoU
    assert boundary_iou(pred, gt) == pytest.approx(mask_iou(pred, gt))
    # on a crop around it the band is 1 px, and the shifted edge costs more than in mask IoU
    assert object_boundary_iou(pred, gt) < mask_iou(pred, gt)
    assert object_boundary_iou(gt, gt) == 1.0

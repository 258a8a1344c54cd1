"""benchmarks.real_objects on small folders written here in the public layouts."""

import cv2
import numpy as np

from benchmarks.baselines import box_fill
from benchmarks.real_objects import evaluate_airbus, evaluate_dota, read_dota_labels, stray_share


def _box_method(image, boxes):
    return np.stack([box_fill(image.shape[:2], b) for b in boxes])


def test_dota_layout_is_read_and_scored(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labelTxt").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "A.png"), np.zeros((60, 80, 3), np.uint8))
    (tmp_path / "labelTxt" / "A.txt").write_text(
        "imagesource:GoogleEarth\ngsd:0.3\n"
        "10 10 30 10 30 20 10 20 small-vehicle 0\n"  # axis-aligned: the filled box is exact
        "40 30 50 40 40 50 30 40 ship 0\n"  # a diamond: the box is twice its area
        "0 0 5 0 5 5 0 5 ship 1\n"  # difficult: left out
        "0 50 79 50 79 59 0 59 harbor 0\n")  # not an object the project tracks: left out
    polys, classes, difficult = read_dota_labels(tmp_path / "labelTxt" / "A.txt")
    assert polys.shape == (4, 4, 2) and classes == ["small-vehicle", "ship", "ship", "harbor"]
    assert difficult.tolist() == [False, False, True, False]
    res = evaluate_dota(tmp_path, {"box": _box_method})
    assert res["A"]["objects"] == 2
    # corners are pixel centres, filled inclusively: the rectangle is 21 x 11 px (the box
    # [10, 30) x [10, 20) holds 200 of them); the diamond 221 px, 219 of them in its 400 px box
    assert np.isclose(res["A"]["box"], (200 / 231 + 219 / 402) / 2)


def test_airbus_layout_fill_and_stray(tmp_path):
    d = tmp_path / "img1"
    d.mkdir()
    cv2.imwrite(str(d / "image.jpg"), np.zeros((50, 50, 3), np.uint8))
    (d / "boxes.txt").write_text("10,10,30,30\n")

    def two_pieces(image, boxes):
        m = np.zeros((1,) + image.shape[:2], bool)
        m[0, 10:20, 10:30] = True  # half the box
        m[0, 40:45, 40:44] = True  # a stray piece of 20 px
        return m

    res = evaluate_airbus(tmp_path, {"box": _box_method, "pieces": two_pieces})
    assert res["box"]["fill"] == 1.0 and res["box"]["stray"] == 0.0
    assert res["pieces"]["fill"] == 0.5
    assert np.isclose(res["pieces"]["stray"], 20 / 220)
    assert stray_share(np.zeros((3, 3), bool)) == 0.0

"""benchmarks.losses: missed and false rows sorted by class, size and kind, on hand-made frames."""

import pytest

from benchmarks.losses import losses, main
from benchmarks.tracking import Matching

# frame, id, x, y, w, h, conf, class (the generator's layout)
GT = [
    (1, 1, 10, 10, 6, 3, 1, 0),  # car, reported exactly
    (1, 2, 50, 10, 6, 3, 1, 0),  # car, reported 2 px right and 1 px down: IoU 0.29
    (1, 3, 100, 100, 10, 10, 1, 0),  # car, nothing reported
    (1, 4, 200, 200, 40, 40, 1, 1),  # airplane, a 10 px box on one part of it
    (1, 6, 400, 400, 4, 4, 1, 0),  # car, a 10 px box around it
]
PRED = [
    (1, 11, 10, 10, 6, 3),
    (1, 12, 52, 11, 6, 3),
    (1, 14, 210, 210, 10, 10),
    (1, 15, 300, 300, 20, 20),  # on nothing
    (1, 16, 397, 397, 10, 10),
]


def _roots(tmp_path, gt_rows=GT, pred_rows=PRED):
    """One sequence, ``clip``: its ground truth and a run's rows, in ``benchmarks.score``'s layout."""
    (tmp_path / "gt" / "clip").mkdir(parents=True)
    (tmp_path / "gt" / "clip" / "gt.txt").write_text("".join(",".join(map(str, r)) + ",0,-1,-1\n" for r in gt_rows))
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "clip.txt").write_text("".join(",".join(map(str, r)) + ",1,-1,-1,-1\n" for r in pred_rows))
    return tmp_path / "gt", tmp_path / "pred"


def test_misses_and_false_positives_are_sorted_by_class_size_and_kind(tmp_path):
    gt, pred = _roots(tmp_path)
    r = losses(gt, pred, Matching("iou", 0.5))
    assert r["true"] == {"car": {"<8": 3, "<16": 1}, "airplane": {">=16": 1}}
    assert r["missed"] == {"car": {"<8": {"off": 2, "none": 0}, "<16": {"off": 0, "none": 1}},
                           "airplane": {">=16": {"off": 1, "none": 0}}}
    assert r["false"] == {"part": 1, "off": 1, "larger": 1, "outside": 1}
    # by centres within 5 px the shifted car and the car in a larger box are found
    r = losses(gt, pred, Matching("centre", 5.0))
    assert r["missed"] == {"car": {"<16": {"off": 0, "none": 1}}, "airplane": {">=16": {"off": 1, "none": 0}}}
    assert r["false"] == {"part": 1, "off": 0, "larger": 0, "outside": 1}


def test_the_command_prints_the_table_and_refuses_an_empty_root(tmp_path, capsys):
    gt, pred = _roots(tmp_path)
    assert main(["--gt", str(gt), "--pred", str(pred), "--json", str(tmp_path / "l.json")]) == 0
    out = capsys.readouterr().out
    assert "false positives: part 1, off 1, larger 1, outside 1 (all 4)" in out
    assert "car" in out and "airplane" in out
    assert (tmp_path / "l.json").exists()
    (tmp_path / "empty").mkdir()
    assert main(["--gt", str(gt), "--pred", str(tmp_path / "empty")]) == 1
    assert "no sequence has both ground truth and predictions" in capsys.readouterr().err


def test_the_tracks_with_the_most_false_rows_are_listed_with_what_they_overlap(tmp_path, capsys):
    gt_rows = [(f, 4, 200 + 5 * f, 200, 40, 40, 1, 1) for f in (1, 2, 3)]  # an airplane
    pred_rows = ([(f, 14, 210 + 5 * f, 210, 10, 10) for f in (1, 2, 3)]  # a part of it, every frame
                 + [(f, 15, 300, 300, 20, 30) for f in (2, 3)]  # on the ground, two frames
                 + [(f, 16, 200 + 5 * f, 200, 40, 40) for f in (1, 2, 3)])  # the airplane itself
    gt, pred = _roots(tmp_path, gt_rows, pred_rows)
    r = losses(gt, pred, Matching("iou", 0.5), tracks=5)
    assert r["tracks"] == [
        {"sequence": "clip", "id": 14, "rows": 3, "false": 3, "size": [10.0, 10.0], "over": {4: 3}},
        {"sequence": "clip", "id": 15, "rows": 2, "false": 2, "size": [20.0, 30.0], "over": {"-": 2}},
    ]
    assert "tracks" not in losses(gt, pred, Matching("iou", 0.5))
    assert main(["--gt", str(gt), "--pred", str(pred), "--tracks", "1"]) == 0
    out = capsys.readouterr().out
    assert "tracks with the most false rows" in out and "4: 3" in out and "-: 2" not in out


def test_the_objects_with_the_most_missed_rows_are_listed_frame_by_frame(tmp_path, capsys):
    gt_rows = ([(f, 1, 10 + 4 * f, 10, 6, 3, 1, 0) for f in range(1, 7)]  # a car
               + [(f, 2, 100, 100, 10, 10, 1, 2) for f in (1, 2, 4, 5)]  # a ship, not annotated in frame 3
               + [(f, 3, 200, 200, 8, 8, 1, 0) for f in (1, 2)])  # a car found in both its frames
    pred_rows = ([(f, 11, 10 + 4 * f, 10, 6, 3) for f in (1, 2)]  # found, then lost ...
                 + [(f, 11, 13 + 4 * f, 10, 6, 3) for f in (3, 4)]  # ... beside it (IoU 0.2) ...
                 + [(f, 12, 100, 100, 10, 10) for f in (1, 4)]  # the ship's track, twice
                 + [(f, 13, 200, 200, 8, 8) for f in (1, 2)])
    gt, pred = _roots(tmp_path, gt_rows, pred_rows)
    r = losses(gt, pred, Matching("iou", 0.5), objects=5)
    assert r["objects"] == [
        {"sequence": "clip", "id": 1, "class": "car", "size": [6.0, 3.0], "first": 1, "missed": 4, "life": "##oo.."},
        {"sequence": "clip", "id": 2, "class": "ship", "size": [10.0, 10.0], "first": 1, "missed": 2, "life": "#. #."},
    ]
    assert "objects" not in losses(gt, pred, Matching("iou", 0.5))
    assert main(["--gt", str(gt), "--pred", str(pred), "--objects", "1"]) == 0
    out = capsys.readouterr().out
    assert "##oo.." in out and "#. #." not in out
    with pytest.raises(SystemExit):
        main(["--gt", str(gt), "--pred", str(pred), "--objects", "-1"])


def test_true_boxes_half_inside_another_are_counted_as_covered(tmp_path, capsys):
    gt_rows = [
        (1, 1, 100, 100, 40, 40, 1, 1),  # an airplane
        (1, 2, 110, 110, 4, 6, 1, 0),  # a car on it: wholly inside its box
        (1, 3, 138, 100, 4, 6, 1, 0),  # a car half over its edge (2 of 4 px wide)
        (1, 4, 139, 120, 4, 6, 1, 0),  # a car a quarter over it: not covered
        (1, 5, 300, 300, 4, 6, 1, 0),  # a car alone
    ]
    pred_rows = [(1, 11, 100, 100, 40, 40), (1, 13, 138, 100, 4, 6), (1, 14, 139, 120, 4, 6)]
    gt, pred = _roots(tmp_path, gt_rows, pred_rows)
    r = losses(gt, pred, Matching("iou", 0.5))
    assert r["covered"] == {"true": 2, "missed": 1}  # the car inside the airplane's box is missed
    assert main(["--gt", str(gt), "--pred", str(pred)]) == 0
    assert "covered (half inside another true box): 2 true rows, 1 of them missed" in capsys.readouterr().out

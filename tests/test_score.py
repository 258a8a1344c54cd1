"""Scoring reproduces motmetrics' published TUD results and TrackEval's HOTA."""

import os
import shutil

import numpy as np
import pytest

from benchmarks.score import score
from benchmarks.tracking import hota
from data.mot import MotFormatError, read_mot
from trackers.matching import iou_matrix

DATA = os.path.join(os.path.dirname(__import__("motmetrics").__file__), "data")
SEQS = ("TUD-Campus", "TUD-Stadtmitte")


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    root = tmp_path_factory.mktemp("tud")
    for s in SEQS:
        (root / "gt" / s / "gt").mkdir(parents=True)
        shutil.copy(os.path.join(DATA, s, "gt.txt"), root / "gt" / s / "gt" / "gt.txt")
        (root / "pred").mkdir(exist_ok=True)
        shutil.copy(os.path.join(DATA, s, "test.txt"), root / "pred" / f"{s}.txt")
    (root / "gt" / "no-predictions" / "gt").mkdir(parents=True)
    shutil.copy(os.path.join(DATA, SEQS[0], "gt.txt"), root / "gt" / "no-predictions" / "gt" / "gt.txt")
    return root


def test_motmetrics_published_results(roots):
    rows = score(roots / "gt", roots / "pred", 0.5)["sequences"]
    assert rows["TUD-Campus"]["mota"] == pytest.approx(0.5265, abs=1e-3)
    assert rows["TUD-Stadtmitte"]["mota"] == pytest.approx(0.5640, abs=1e-3)
    assert rows["TUD-Campus"]["idf1"] == pytest.approx(0.5577, abs=1e-3)
    assert rows["TUD-Stadtmitte"]["idf1"] == pytest.approx(0.6446, abs=1e-3)
    assert rows["no-predictions"] == {"missing": ["predictions"]}


@pytest.mark.parametrize("seq", SEQS)
def test_hota_equals_trackeval(seq):
    import trackeval

    gt, pr = read_mot(os.path.join(DATA, seq, "gt.txt")), read_mot(os.path.join(DATA, seq, "test.txt"))
    _, gi = np.unique(gt.ids, return_inverse=True)
    _, pi = np.unique(pr.ids, return_inverse=True)
    frames = sorted(set(gt.frames) | set(pr.frames))
    data = {"num_gt_ids": len(set(gt.ids)), "num_tracker_ids": len(set(pr.ids)), "num_gt_dets": len(gt),
            "num_tracker_dets": len(pr), "gt_ids": [], "tracker_ids": [], "similarity_scores": [],
            "num_timesteps": len(frames)}
    for f in frames:
        gm, pm = gt.frames == f, pr.frames == f
        data["gt_ids"].append(gi[gm])
        data["tracker_ids"].append(pi[pm])
        data["similarity_scores"].append(iou_matrix(gt.boxes[gm], pr.boxes[pm]))
    ref = trackeval.metrics.HOTA().eval_sequence(data)
    ours = hota(gt, pr)
    for k in ("HOTA", "DetA", "AssA", "LocA"):
        assert ours[k.lower()] == pytest.approx(float(np.mean(ref[k])), abs=1e-4), k


def test_perfect_predictions_score_one(roots, tmp_path):
    gt = roots / "gt" / SEQS[0] / "gt" / "gt.txt"
    (tmp_path / "gt" / "a" / "gt").mkdir(parents=True)
    shutil.copy(gt, tmp_path / "gt" / "a" / "gt" / "gt.txt")
    (tmp_path / "pred").mkdir()
    shutil.copy(gt, tmp_path / "pred" / "a.txt")
    r = score(tmp_path / "gt", tmp_path / "pred")["sequences"]["a"]
    assert r["mota"] == pytest.approx(1) and r["idf1"] == pytest.approx(1) and r["hota"] == pytest.approx(1)


def test_malformed_prediction_row_names_file_and_line(roots, tmp_path):
    shutil.copytree(roots / "gt", tmp_path / "gt")
    shutil.copytree(roots / "pred", tmp_path / "pred")
    with open(tmp_path / "pred" / "TUD-Campus.txt", "a") as f:
        f.write("9,1,2,3\n")
    n = sum(1 for _ in open(tmp_path / "pred" / "TUD-Campus.txt"))
    with pytest.raises(MotFormatError, match=f"TUD-Campus.txt:{n}:"):
        score(tmp_path / "gt", tmp_path / "pred")

"""The batch benchmark: runs every sequence, scores, resumes, spreads over processes; baselines."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from benchmarks import evaluate
from data.mot import read_mot
from data.synthetic.__main__ import write_clip
from data.synthetic.clip import ClipConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("dataset")
    for seed in (1, 2):
        write_clip(root / f"seq{seed}", ClipConfig(frames=12, objects=5, size=192, seed=seed), progress=False)
    return root


def _scores(out: Path) -> dict:
    return json.loads((out / "scores.json").read_text())


def test_runs_every_sequence_scores_and_resumes(dataset, tmp_path, capsys):
    out = tmp_path / "ev"
    assert evaluate.main([str(dataset), "--out", str(out), "--report"]) == 0
    seqs = _scores(out)["sequences"]
    assert set(seqs) == {"seq1", "seq2", "OVERALL"}
    assert all(0 <= seqs[s]["idf1"] <= 1 and "miou" in seqs[s] for s in seqs)
    assert (out / "report" / "report.md").is_file()
    for s in ("seq1", "seq2"):
        assert len(read_mot(out / s / "tracks.txt")) > 0
    stamp = {s: (out / s / "summary.json").stat().st_mtime_ns for s in ("seq1", "seq2")}
    capsys.readouterr()

    assert evaluate.main([str(dataset), "--out", str(out)]) == 0  # resumed: nothing to run
    assert "2 done before, 0 to run" in capsys.readouterr().err
    assert {s: (out / s / "summary.json").stat().st_mtime_ns for s in ("seq1", "seq2")} == stamp
    assert _scores(out)["sequences"]["OVERALL"]["idf1"] == seqs["OVERALL"]["idf1"]

    # an unfinished sequence is run again
    summary = json.loads((out / "seq2" / "summary.json").read_text())
    (out / "seq2" / "summary.json").write_text(json.dumps({**summary, "complete": False}))
    assert evaluate.main([str(dataset), "--out", str(out)]) == 0
    assert "1 done before, 1 to run" in capsys.readouterr().err
    assert json.loads((out / "seq2" / "summary.json").read_text())["complete"]

    # other settings never mix into the same folder
    assert evaluate.main([str(dataset), "--out", str(out), "--discover"]) == 1
    assert "other settings" in capsys.readouterr().err


def test_a_sequence_without_clip_is_listed_as_missing(dataset, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "seq1").symlink_to(dataset / "seq1")
    (root / "noclip").mkdir()
    (root / "noclip" / "gt.txt").write_text((dataset / "seq2" / "gt.txt").read_text())
    assert evaluate.main([str(root), "--out", str(tmp_path / "ev")]) == 0
    seqs = _scores(tmp_path / "ev")["sequences"]
    assert "missing" in seqs["noclip"] and "no clip" in seqs["noclip"]["missing"][0]
    assert "mota" in seqs["seq1"]


def test_configuration_overrides_reach_every_sequence_and_keep_their_folder(dataset, tmp_path, capsys):
    out = tmp_path / "ev"
    assert evaluate.main([str(dataset), "--out", str(out), "--discover", "--set", "discovery.enabled=false"]) == 0
    assert json.loads((out / "evaluate.json").read_text())["set"] == ["discovery.enabled=false"]
    for s in ("seq1", "seq2"):
        assert json.loads((out / s / "summary.json").read_text())["config"]["discovery"]["enabled"] is False
        assert len(read_mot(out / s / "tracks.txt")) == 0  # nothing proposes an object
    capsys.readouterr()
    # results of other overrides never mix into the same folder; a bad one fails before any run
    assert evaluate.main([str(dataset), "--out", str(out), "--discover"]) == 1
    assert "other settings" in capsys.readouterr().err
    assert evaluate.main([str(dataset), "--out", str(tmp_path / "bad"), "--set", "discovery.gapp=3"]) == 1
    assert "did you mean gap" in capsys.readouterr().err and not (tmp_path / "bad").exists()


@pytest.mark.parametrize("segmenter", ["grabcut", "box"])
def test_baselines_run_through_the_pipeline(dataset, tmp_path, segmenter):
    out = tmp_path / segmenter
    assert evaluate.main([str(dataset), "--out", str(out), "--segmenter", segmenter]) == 0
    summary = json.loads((out / "seq1" / "summary.json").read_text())
    assert summary["model"] == {"segmenter": segmenter} and summary["complete"]
    tracks = read_mot(out / "seq1" / "tracks.txt")
    assert len(tracks) > 0
    for line in (out / "seq1" / "masks.jsonl").read_text().splitlines():
        for obj in json.loads(line)["objects"]:
            assert mask_utils.decode(obj["rle"]).shape == (192, 192)
    if segmenter == "box":  # the masks are the reported boxes, filled
        rec = next(json.loads(x) for x in (out / "seq1" / "masks.jsonl").read_text().splitlines() if '"id"' in x)
        obj = rec["objects"][0]
        row = tracks.select((tracks.frames == rec["frame"]) & (tracks.ids == obj["id"]))
        m = mask_utils.decode(obj["rle"]).astype(bool)
        ys, xs = np.nonzero(m)
        x, y = row.boxes[0, :2]
        assert abs(xs.min() - np.floor(x)) <= 1 and abs(ys.min() - np.floor(y)) <= 1
        assert m.sum() == (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)


def test_two_accelerate_ranks_give_the_same_table(dataset, tmp_path):
    single = tmp_path / "one"
    assert evaluate.main([str(dataset), "--out", str(single)]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29531",
           "-m", "benchmarks.evaluate", str(dataset), "--out", str(tmp_path / "two")]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "on 2 processes" in r.stderr
    a, b = _scores(single)["sequences"], _scores(tmp_path / "two")["sequences"]
    assert a == b


def test_a_peer_output_is_scored_beside_ours(dataset, tmp_path, capsys):
    """The ground truth given as a peer's output scores perfectly, and one of its tracks moved
    off by 100 px costs it by IoU and by centre distance alike."""
    root = tmp_path / "data"
    for s in ("seq1", "seq2"):
        (root / s).mkdir(parents=True)
        for f in ("clip.avi", "gt.txt"):
            (root / s / f).symlink_to(dataset / s / f)
    (root / "seq1" / "peer.txt").write_text((dataset / "seq1" / "gt.txt").read_text())
    rows = [r.split(",") for r in (dataset / "seq2" / "gt.txt").read_text().splitlines()]
    moved = [",".join([*r[:2], str(float(r[2]) + 100), *r[3:]]) if r[1] == rows[0][1] else ",".join(r) for r in rows]
    (root / "seq2" / "peer.txt").write_text("\n".join(moved) + "\n")
    for match in (["--iou", "0.3"], ["--match", "centre", "--distance", "5"]):
        out = tmp_path / "ev"
        assert evaluate.main([str(root), "--out", str(out), "--segmenter", "box", "--peer", "peer.txt", *match]) == 0
        peer = _scores(out)["peer"]
        assert peer["seq1"]["mota"] == 1.0 and peer["seq1"]["idf1"] == 1.0
        assert peer["seq2"]["mota"] < 1.0 and peer["seq2"]["num_false_positives"] > 0
        assert "seq1 (peer)" in capsys.readouterr().out
    assert evaluate.main([str(root), "--out", str(tmp_path / "ev"), "--segmenter", "box", "--peer", "nothing.txt"]) == 1
    assert "no sequence folder" in capsys.readouterr().err

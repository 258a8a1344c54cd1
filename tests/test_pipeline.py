"""End to end: the streaming pipeline on generated clips with the embedded default model."""

import json

import pytest
from pycocotools import mask as mask_utils

from data.mot import read_mot
from data.synthetic.__main__ import write_clip
from data.synthetic.clip import ClipConfig
from pipeline import run as run_cli

pytestmark = pytest.mark.slow

# Floors at about half of what the shipped tiny model measured on this clip (IoU 0.5 matching):
# --init-gt IDF1 0.78, mask mIoU 0.50; discovery IDF1 0.18, mIoU 0.13 (discovery splits its one
# airplane, 64 x 70 px, into two tracks on its parts, matched in none of 30 frames; the
# previous weights: 0.70 / 0.47 and 0.27 / 0.20, with the airplane matched in 20 of 30 frames).
# Random weights score 0, so a broken model, tracker or writer fails these.
IDF1_FLOOR_GT, MIOU_FLOOR_GT = 0.35, 0.25
IDF1_FLOOR_DISCOVERY, MIOU_FLOOR_DISCOVERY = 0.09, 0.06


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip30")
    write_clip(out, ClipConfig(frames=30, objects=10, size=384, seed=11), progress=False)
    return out


def _score(clip, out):
    from benchmarks.score import mask_scores
    from benchmarks.tracking import accumulate, clear_metrics

    gt, pred = read_mot(clip / "gt.txt"), read_mot(out / "tracks.txt")
    df = clear_metrics([accumulate(gt, pred, 0.5)], ["clip"])
    return float(df.loc["clip", "idf1"]), mask_scores(clip / "masks", out / "masks.jsonl", 0.5)["miou"]


def test_init_gt_run(clip, tmp_path):
    out = tmp_path / "run"
    assert run_cli.main([str(clip / "clip.avi"), "--init-gt", str(clip / "gt.txt"), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["frames"] == 30 and summary["frames_skipped"] == 0
    assert {"tracks.txt", "masks.jsonl", "summary.json"} <= {p.name for p in out.iterdir()}
    assert (out / "overlay.mp4").is_file() or (out / "overlay.avi").is_file()
    tracks = read_mot(out / "tracks.txt")  # reads back through the data layer
    lines = (out / "masks.jsonl").read_text().splitlines()
    assert len(lines) == 30
    for line in lines:
        rec = json.loads(line)
        for obj in rec["objects"]:
            m = mask_utils.decode(obj["rle"])
            assert m.shape == (384, 384)
    idf1, miou = _score(clip, out)
    print(f"init-gt: IDF1 {idf1:.3f}, mIoU {miou:.3f}, rows {len(tracks)}")
    assert idf1 >= IDF1_FLOOR_GT and miou >= MIOU_FLOOR_GT


def test_discovery_run(clip, tmp_path):
    out = tmp_path / "run"
    assert run_cli.main([str(clip / "clip.avi"), "--out", str(out), "--no-overlay"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["discover"] is None and summary["objects"] > 0
    idf1, miou = _score(clip, out)
    print(f"discovery: IDF1 {idf1:.3f}, mIoU {miou:.3f}")
    assert idf1 >= IDF1_FLOOR_DISCOVERY and miou >= MIOU_FLOOR_DISCOVERY


# The jilin preset (faint 4-6 px cars moving about their length per frame, 2.5 px jitter),
# 384 x 384, 40 cars, 12 frames, matched by centre distance <= 5 px. Measured on seeds 5-7:
# --init-gt MOTA 0.58-0.74 / IDF1 0.75-0.86, discovery 0.64-0.66 / 0.78-0.81 (without the
# young tracks' 14 px search floor, --init-gt 0.50-0.68 / 0.70-0.83; before the preset's
# traffic was set to the real clip's, with many more cars driving side by side: 0.42-0.55 /
# 0.65-0.73 and 0.50-0.53 / 0.65-0.70); the tracker before motion measurement (issue 11)
# scored 0.09 / 0.17 and 0.01 / 0.04 on them (on the generator of that time).
JILIN_FLOORS = {"init-gt": (0.35, 0.55), "discovery": (0.45, 0.6)}


@pytest.fixture(scope="module")
def jilin_clip(tmp_path_factory):
    from data.synthetic.__main__ import preset_config

    out = tmp_path_factory.mktemp("jilin")
    write_clip(out, preset_config("jilin", size=384, objects=40, frames=12, seed=5), progress=False)
    return out


@pytest.mark.parametrize("mode", ["init-gt", "discovery"])
def test_jilin_preset_tracks_cars_moving_their_own_length(jilin_clip, tmp_path, mode):
    from benchmarks.tracking import Matching, accumulate, clear_metrics

    out = tmp_path / "run"
    args = ["--init-gt", str(jilin_clip / "gt.txt")] if mode == "init-gt" else []
    assert run_cli.main([str(jilin_clip / "clip.avi"), *args, "--out", str(out), "--no-overlay"]) == 0
    match = Matching("centre", 5.0)
    gt, pred = read_mot(jilin_clip / "gt.txt"), read_mot(out / "tracks.txt")
    df = clear_metrics([accumulate(gt, pred, match)], ["clip"], match)
    mota, idf1 = float(df.loc["clip", "mota"]), float(df.loc["clip", "idf1"])
    print(f"jilin {mode}: MOTA {mota:.3f}, IDF1 {idf1:.3f}")
    assert mota >= JILIN_FLOORS[mode][0] and idf1 >= JILIN_FLOORS[mode][1]


def test_interrupted_run_leaves_readable_partial_outputs(clip, tmp_path, monkeypatch):
    from pipeline import core

    original = core.Session.results

    def interrupted(self):  # a second Ctrl-C: the run stops at once
        for k, r in enumerate(original(self)):
            if k == 5:
                raise KeyboardInterrupt
            yield r

    monkeypatch.setattr(core.Session, "results", interrupted)
    out = tmp_path / "run"
    code = run_cli.main([str(clip / "clip.avi"), "--init-gt", str(clip / "gt.txt"), "--out", str(out)])
    assert code == 130
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["error"] == "interrupted" and summary["frames_written"] == 5
    assert len((out / "masks.jsonl").read_text().splitlines()) == 5
    t = read_mot(out / "tracks.txt")
    assert len(t) == 0 or t.frames.max() <= 5
    assert not list(out.glob(".*.tmp*"))


def test_configuration_fields_are_set_from_the_command_line(clip, tmp_path, capsys):
    # the same clip discovers objects with the defaults (test_discovery_run); with the detector
    # off nothing proposes any
    out = tmp_path / "run"
    assert run_cli.main([str(clip / "clip.avi"), "--out", str(out), "--no-overlay",
                         "--set", "discovery.enabled=false", "--set", "tracker.max_age=20"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objects"] == 0
    assert summary["config"]["discovery"]["enabled"] is False and summary["config"]["tracker"]["max_age"] == 20
    capsys.readouterr()
    assert run_cli.main([str(clip / "clip.avi"), "--out", str(tmp_path / "bad"), "--set", "tracker.max_aeg=20"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean max_age" in err[0]
    assert not (tmp_path / "bad").exists()


def test_bad_input_is_one_line_and_nonzero(clip, tmp_path, capsys):
    assert run_cli.main([str(tmp_path / "nothing.avi"), "--out", str(tmp_path / "o1")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing.avi: no such file" in err[0]
    (tmp_path / "bad.avi").write_text("not a video")
    assert run_cli.main([str(tmp_path / "bad.avi"), "--out", str(tmp_path / "o2")]) == 1
    assert "bad.avi: not a readable video" in capsys.readouterr().err
    (tmp_path / "init.txt").write_text("1,10,10,5,5\n")
    assert run_cli.main([str(clip / "clip.avi"), "--init", str(tmp_path / "init.txt"), "--out", str(tmp_path / "o3")]) == 1
    assert "init.txt:1:" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert run_cli.main([str(clip / "clip.avi"), "--out", str(tmp_path / "full")]) == 1
    assert "not empty (use --overwrite)" in capsys.readouterr().err


def test_a_frame_that_fails_to_decode_is_skipped_and_counted(clip, tmp_path, frames_with_a_broken_one):
    import shutil

    seq = frames_with_a_broken_one(clip / "clip.avi", tmp_path, 8, 4)
    shutil.copy(clip / "gt.txt", tmp_path / "gt.txt")
    out = tmp_path / "run"
    assert run_cli.main([str(seq), "--init-gt", str(tmp_path / "gt.txt"), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_skipped"] == 1 and summary["frames_written"] == 8


def test_prompts_for_a_frame_that_fails_to_decode_start_on_the_next_one(clip, tmp_path, frames_with_a_broken_one):
    import numpy as np

    seq = frames_with_a_broken_one(clip / "clip.avi", tmp_path, 6, 4)
    rows = np.loadtxt(clip / "gt.txt", delimiter=",", ndmin=2)
    at4, at5 = rows[rows[:, 0] == 4], rows[rows[:, 0] == 5]
    obj = next(i for i in at4[np.argsort(-at4[:, 4] * at4[:, 5]), 1] if i in at5[:, 1])  # the largest seen in both
    x, y, w, h = at4[at4[:, 1] == obj][0, 2:6]
    (tmp_path / "init.txt").write_text(f"4,{x},{y},{x + w},{y + h}\n")
    out = tmp_path / "run"
    assert run_cli.main([str(seq), "--init", str(tmp_path / "init.txt"), "--out", str(out),
                         "--no-overlay"]) == 0
    tracks = np.loadtxt(out / "tracks.txt", delimiter=",", ndmin=2)
    assert len(tracks) and tracks[:, 0].min() == 5  # not lost with the broken frame
    x5, y5, w5, h5 = at5[at5[:, 1] == obj][0, 2:6]
    first = tracks[tracks[:, 0] == 5][0]
    assert abs(first[2] + first[4] / 2 - (x5 + w5 / 2)) < w5 and abs(first[3] + first[5] / 2 - (y5 + h5 / 2)) < h5


def test_a_truncated_video_is_reported_with_a_nonzero_exit(clip, tmp_path, capsys):
    data = (clip / "clip.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 3])
    out = tmp_path / "run"
    assert run_cli.main([str(tmp_path / "cut.avi"), "--out", str(out), "--no-overlay"]) == 3
    summary = json.loads((out / "summary.json").read_text())
    t = summary["truncated"]
    assert not summary["complete"] and summary["frames_declared"] == 30 and t["declared"] == 30
    assert 1 < t["stopped_at"] <= 30 and summary["frames_written"] == t["stopped_at"] - 1
    assert "truncated: the header declares 30 frames" in summary["error"]
    assert len((out / "masks.jsonl").read_text().splitlines()) == summary["frames_written"]
    assert (out / "tracks.txt").is_file()
    assert f"decoding stopped at frame {t['stopped_at']}" in capsys.readouterr().err


def test_a_crop_mask_is_encoded_as_the_same_rle_as_its_full_frame():
    """masks.jsonl's RLE, counted over the columns a crop spans, is COCO's encoding of the
    crop pasted into a frame of zeros: at the frame's edges and corners, for empty and full
    crops, and with the parts of a crop outside the frame left out."""
    import numpy as np

    from pipeline.sinks import encode_rle

    h, w = 37, 53
    rng = np.random.default_rng(0)
    cases = [(np.ones((4, 5), bool), (0, 0)), (np.ones((4, 5), bool), (w - 5, h - 4)),
             (np.zeros((6, 6), bool), (10, 10)), (np.ones((h, w), bool), (0, 0)),
             (np.ones((6, 8), bool), (-3, -2)), (np.ones((6, 8), bool), (w - 5, h - 2)),
             (np.ones((3, 3), bool), (w + 4, 2))]
    for _ in range(200):
        ch, cw = rng.integers(1, 20, 2)
        x, y = int(rng.integers(-5, w)), int(rng.integers(-5, h))
        cases.append((rng.uniform(size=(ch, cw)) < rng.uniform(0.05, 0.95), (x, y)))
    for mask, (x, y) in cases:
        full = np.zeros((h + 40, w + 40), np.uint8)  # room for the parts outside the frame
        full[y + 20 : y + 20 + mask.shape[0], x + 20 : x + 20 + mask.shape[1]] = mask
        expected = mask_utils.encode(np.asfortranarray(full[20 : 20 + h, 20 : 20 + w]))
        rle = encode_rle(mask, (x, y), (h, w))
        assert rle["size"] == [h, w] and rle["counts"] == expected["counts"].decode("ascii"), (mask.shape, x, y)

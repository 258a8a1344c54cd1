"""A run's explicit state: saved and loaded exactly; a run stopped at any frame (signal or
``kill -9``) resumes to the same outputs byte for byte; a resume with other settings is refused;
prompts added and tracks removed between frames."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from data.mot import read_mot
from data.synthetic.__main__ import write_clip
from data.synthetic.clip import ClipConfig
from pipeline import run as run_cli
from pipeline.state import FrameResult, RunState, Stats
from trackers import MaskTracker, TrackerState, TrackResult

ROOT = Path(__file__).parent.parent


def _result(frame: int, ids, image=True, pending=()) -> FrameResult:
    rng = np.random.default_rng(frame)
    n, p = len(ids), len(pending)
    tracks = TrackResult(np.array(ids, np.int64), rng.random((n, 4)) * 50, rng.random(n), np.arange(n), np.arange(n),
                         live=n + p, rejected={7: "leak"}, sources=np.ones(n, np.int64))
    tracks.pending = TrackResult(np.array(pending, np.int64), rng.random((p, 4)) * 50, rng.random(p), np.zeros(p, np.int64),
                                 np.arange(n, n + p), sources=np.full(p, 3))
    return FrameResult(frame, rng.integers(0, 255, (20, 30, 3), dtype=np.uint8) if image else None, tracks,
                       [rng.random((3 + k, 4)) > 0.5 for k in range(n)], rng.integers(0, 9, (n, 2)), 5, 2,
                       [rng.random((2, 5 + k)) > 0.5 for k in range(p)], rng.integers(0, 9, (p, 2)))


def _same_result(a: FrameResult, b: FrameResult) -> None:
    assert a.frame == b.frame and a.prompts == b.prompts and a.windows == b.windows
    assert (a.image is None) == (b.image is None) and (a.image is None or np.array_equal(a.image, b.image))
    for ta, tb in ((a.tracks, b.tracks), (a.tracks.pending, b.tracks.pending)):
        for name in ("ids", "boxes", "scores", "classes", "prompt_index", "sources"):
            assert np.array_equal(getattr(ta, name), getattr(tb, name)), name
    assert a.tracks.live == b.tracks.live and a.tracks.rejected == b.tracks.rejected
    for ma, mb in ((a.masks, b.masks), (a.pending_masks, b.pending_masks)):
        assert len(ma) == len(mb) and all(np.array_equal(x, y) for x, y in zip(ma, mb))
    assert np.array_equal(a.offsets, b.offsets) and np.array_equal(a.pending_offsets, b.pending_offsets)


def test_a_run_state_saves_and_loads_exactly(tmp_path):
    rng = np.random.default_rng(0)
    tracker = MaskTracker((20, 30))
    frame = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    tracker.predict(1, frame)
    tracker.add([[2, 2, 8, 9], [10, 4, 15, 12]], [0, 2])
    tracker.propose([[20, 10, 26, 16]])
    tracker.update(1, [np.ones((5, 5), bool)] * 3, [0.9, 0.8, 0.7], [[3, 3], [11, 5], [21, 11]])
    tracker.predict(2, frame)
    state = RunState(tracker=tracker.state, discovery=[rng.random((20, 30), dtype=np.float32) for _ in range(3)],
                     frame=6, waiting_ids=np.array([-1, 9]), waiting_boxes=np.array([[1.0, 2, 3, 4], [5, 6, 7, 8]]),
                     waiting_classes=np.array([0, -1]), lookback=[_result(3, [1, 2], pending=[4]), _result(4, [], False)],
                     reported={1, 2}, stats=Stats(6, 1, {"segment": 1.5}, {1, 2}, 7, 12),
                     settings={"config": {"variant": "tiny"}}, outputs={"frames": 2, "tracks.txt": 120})
    state.save(tmp_path / "s.npz")
    back = RunState.load(tmp_path / "s.npz")
    for name in TrackerState.PER_TRACK:
        assert np.array_equal(getattr(back.tracker, name), getattr(state.tracker, name), equal_nan=True), name
    t, s = back.tracker, state.tracker
    assert (t.next_id, t.frame) == (s.next_id, s.frame) == (4, 2)
    assert np.array_equal(t.gray, s.gray) and np.array_equal(t.platform_shift, s.platform_shift)
    assert len(back.discovery) == 3 and all(np.array_equal(a, b) for a, b in zip(back.discovery, state.discovery))
    assert back.frame == 6 and back.reported == {1, 2} and back.stats == state.stats
    assert np.array_equal(back.waiting_ids, [-1, 9]) and np.array_equal(back.waiting_boxes, state.waiting_boxes)
    assert back.settings == state.settings and back.outputs == state.outputs
    for a, b in zip(back.lookback, state.lookback):
        _same_result(a, b)
    # a tracker built on the loaded state continues as the saved one does
    a, b = MaskTracker((20, 30), state=state.tracker), MaskTracker((20, 30), state=back.tracker)
    assert np.array_equal(a.prompts().boxes, b.prompts().boxes) and np.array_equal(a.prompts().ids, b.prompts().ids)
    (tmp_path / "bad.npz").write_bytes(b"not a state")
    with pytest.raises(ValueError, match="bad.npz: not a saved run state"):
        RunState.load(tmp_path / "bad.npz")


def test_tracks_removed_leave_held_results():
    r = _result(3, [1, 2, 5], pending=[4, 5])
    r.drop([5, 9])
    assert r.tracks.ids.tolist() == [1, 2] and len(r.masks) == 2 and len(r.offsets) == 2
    assert r.tracks.pending.ids.tolist() == [4] and len(r.pending_masks) == 1


# -- whole runs on a generated clip ---------------------------------------------------------
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip16")
    write_clip(out, ClipConfig(frames=16, objects=8, size=288, seed=7), progress=False)
    return out


@pytest.fixture(scope="module")
def seq(clip, tmp_path_factory, frames_with_a_broken_one):
    """The clip as a frame folder with frame 6 unreadable: the state holds prompts waiting."""
    return frames_with_a_broken_one(clip / "clip.avi", tmp_path_factory.mktemp("seq"), 16, 6)


def _args(source, clip, out, *more):
    # ground-truth prompts and discovery together: every kind of state (the look-back too)
    return [str(source), "--init-gt", str(clip / "gt.txt"), "--discover", "--no-overlay", "--out", str(out), *more]


@pytest.fixture(scope="module")
def uninterrupted(seq, clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    assert run_cli.main(_args(seq, clip, out)) == 0
    assert not (out / run_cli.STATE).exists()  # a finished run leaves no state
    return out


def _same_outputs(a: Path, b: Path) -> None:
    for name in ("tracks.txt", "masks.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _stop_after(monkeypatch, frames: int, sig=signal.SIGTERM) -> None:
    """Send ``sig`` to this process while the run writes its ``frames``-th frame."""
    from pipeline.sinks import Sinks

    write = Sinks.write

    def write_then_signal(self, *a, **k):
        write(self, *a, **k)
        if self.frames == frames:
            os.kill(os.getpid(), sig)

    monkeypatch.setattr(Sinks, "write", write_then_signal)


@slow
@pytest.mark.parametrize("frames", [1, 6, 14])
def test_a_run_stopped_at_any_frame_resumes_to_the_same_outputs(seq, clip, uninterrupted, tmp_path, monkeypatch,
                                                                frames):
    out = tmp_path / "run"
    _stop_after(monkeypatch, frames)
    assert run_cli.main(_args(seq, clip, out, "--save-every", "5")) == 143
    summary = json.loads((out / "summary.json").read_text())
    assert not summary["complete"] and summary["error"] == "terminated" and summary["frames_written"] == frames
    assert summary["state"] == run_cli.STATE
    assert len((out / "masks.jsonl").read_text().splitlines()) == frames
    monkeypatch.undo()
    assert run_cli.main(_args(seq, clip, out, "--resume")) == 0
    _same_outputs(uninterrupted, out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["resumed_from"] > frames and summary["frames_written"] == 16
    assert summary["frames_skipped"] == 1 and not (out / run_cli.STATE).exists()


@slow
def test_a_resume_with_other_settings_or_another_clip_is_refused(seq, clip, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    _stop_after(monkeypatch, 3, signal.SIGINT)
    assert run_cli.main(_args(seq, clip, out)) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert run_cli.main(_args(seq, clip, out, "--resume", "--fixed-zoom")) == 1
    assert "config.adaptive_zoom: was True, now False" in capsys.readouterr().err
    assert run_cli.main(_args(seq, clip, out, "--resume", "--set", "tracker.max_age=3")) == 1
    assert "config.tracker.max_age: was 10, now 3" in capsys.readouterr().err
    assert run_cli.main(_args(clip / "clip.avi", clip, out, "--resume")) == 1
    assert "clip.path: was" in capsys.readouterr().err
    (out / "tracks.txt").write_text("")  # an output changed since the state was saved
    assert run_cli.main(_args(seq, clip, out, "--resume")) == 1
    assert "tracks.txt: has 0 bytes" in capsys.readouterr().err
    assert run_cli.main(_args(seq, clip, tmp_path / "never", "--resume")) == 1
    assert "nothing to resume" in capsys.readouterr().err


@slow
def test_a_killed_run_keeps_what_it_saved_readable_and_resumes(clip, tmp_path):
    full = tmp_path / "full"
    assert run_cli.main(_args(clip / "clip.avi", clip, full)) == 0
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "pipeline.run", *_args(clip / "clip.avi", clip, out, "--save-every", "3")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            masks = out / "masks.jsonl"
            if masks.is_file() and masks.read_bytes().count(b"\n") >= 7:
                break
            time.sleep(0.02)
        proc.kill()  # SIGKILL: nothing of the run's own runs after this
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    state = RunState.load(out / run_cli.STATE)
    saved = state.outputs
    assert saved["frames"] >= 3 and saved["frames"] % 3 == 0
    lines = (out / "masks.jsonl").read_bytes()[: saved["masks.jsonl"]].decode().splitlines()
    assert [json.loads(x)["frame"] for x in lines] == list(range(1, saved["frames"] + 1))
    (tmp_path / "saved.txt").write_bytes((out / "tracks.txt").read_bytes()[: saved["tracks.txt"]])
    tracks = read_mot(tmp_path / "saved.txt")
    assert len(tracks) and tracks.frames.max() <= saved["frames"]
    assert run_cli.main(_args(clip / "clip.avi", clip, out, "--resume")) == 0
    _same_outputs(full, out)


# -- prompts from outside, between two frames ----------------------------------------------
@slow
def test_boxes_added_between_frames_are_init_rows_and_removed_tracks_end(clip, tmp_path):
    from data.mot import format_rows, Tracks
    from pipeline.core import Pipeline, PipelineConfig

    gt = read_mot(clip / "gt.txt")
    first = gt.boxes[gt.frames == 1]
    classes = gt.classes[gt.frames == 1]
    (tmp_path / "init.txt").write_text("".join(f"1,{b[0]},{b[1]},{b[2]},{b[3]},{c}\n" for b, c in zip(first, classes)))
    out = tmp_path / "cli"
    assert run_cli.main([str(clip / "clip.avi"), "--init", str(tmp_path / "init.txt"), "--no-overlay", "--out", str(out)]) == 0

    def rows(results):
        text = ""
        for r in results:
            t = r.tracks
            text += "".join(x + "\n" for x in format_rows(Tracks(np.full(len(t), r.frame), t.ids, t.boxes, t.scores,
                                                                  t.classes)))
        return text

    pipe = Pipeline(PipelineConfig(discover=False))
    session = pipe.session(clip / "clip.avi")
    assert session.next_frame == 1
    ids = session.add(first, classes)
    assert ids.tolist() == list(range(1, len(first) + 1))
    assert rows(session.results()) == (out / "tracks.txt").read_text()

    # a box added after frame 8 starts at frame 9 with the id returned; a removed track ends
    at9 = gt.boxes[(gt.frames == 9)]
    session = Pipeline(PipelineConfig(discover=False)).session(clip / "clip.avi")
    session.add(first[:2])
    seen = {}
    for r in session.results():
        seen[r.frame] = set(r.tracks.ids.tolist())
        if r.frame == 4:
            assert session.remove([1, 99]).tolist() == [1]
        if r.frame == 8:
            assert session.next_frame == 9
            (new,) = session.add(at9[:1]).tolist()
    assert 1 in seen[4] and not any(1 in seen[f] for f in range(5, 17))
    assert new == 3 and new in seen[9] and not any(new in seen[f] for f in range(1, 9))

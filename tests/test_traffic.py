"""``benchmarks.traffic``: speeds, nearest neighbours and contrast from hand-made ground truth."""

import numpy as np

from benchmarks.traffic import contrasts, main, nearest, pixel_noise, speeds
from data.mot import Tracks


def _tracks(rows):
    """rows: (frame, id, x1, y1, x2, y2)."""
    a = np.array(rows, np.float64)
    order = np.lexsort((a[:, 1], a[:, 0]))
    a = a[order]
    n = len(a)
    return Tracks(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2:6], np.ones(n), np.zeros(n, np.int64))


def test_speeds_and_nearest_neighbours():
    # object 1 moves 3 px a frame along x, object 2 stands 4 px below it in frame 1 and moves
    # 5 px a frame along y; frame 3 of object 2 is missing (no speed across the gap)
    gt = _tracks([(1, 1, 0, 0, 4, 2), (2, 1, 3, 0, 7, 2), (3, 1, 6, 0, 10, 2),
                  (1, 2, 0, 4, 4, 6), (2, 2, 0, 9, 4, 11), (4, 2, 0, 19, 4, 21)])
    assert sorted(speeds(gt).tolist()) == [3.0, 3.0, 5.0]
    d = nearest(gt)
    frame1 = gt.frames == 1
    assert np.allclose(d[frame1], 4.0)
    assert np.allclose(d[gt.frames == 2], np.hypot(3, 9))
    assert np.all(np.isinf(d[gt.frames >= 3]))  # alone in its frame


def test_contrast_is_in_noise_sigmas_for_tight_and_margin_boxes():
    rng = np.random.default_rng(0)
    gray = 100 + rng.normal(0, 2.0, (64, 64)).astype(np.float32)
    gray[30:33, 20:26] += 30.0  # a 6 x 3 px car 30 grey levels above its road
    sigma = pixel_noise(gray)
    assert 1.0 < sigma < 2.5  # the blur's residual of noise of sigma 2
    tight, margin = contrasts(gray, np.array([[20, 30, 26, 33], [17, 27, 29, 36]], np.float64))
    for c in (tight, margin):  # the car's pixels, not its box's ground, set the contrast
        assert 25.0 / sigma < c < 36.0 / sigma
    ground = contrasts(gray, np.array([[40, 40, 46, 43]], np.float64))[0]
    assert ground < 5.0  # noise alone: a few sigmas at most
    assert len(contrasts(gray, np.array([[0, 0, 5, 5]], np.float64))) == 0  # no whole ring at the edge


def test_command_line_on_a_generated_clip(tmp_path, capsys):
    from data.synthetic.__main__ import preset_config, write_clip

    write_clip(tmp_path / "seq", preset_config("jilin", size=256, objects=20, frames=3, seed=1), progress=False)
    assert main([str(tmp_path), "--frames", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("seq ") and "speed p10/50/90" in out and "contrast median" in out
    assert main([str(tmp_path / "nothing")]) == 2

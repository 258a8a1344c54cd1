"""The web app: its JSON API (clips, frames, segmenting, runs, downloads), its safety (paths,
tokens, bad requests, one run per clip), the same tracks as the command line, and the page
itself driven in headless Chromium."""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from data.mot import read_mot
from data.synthetic.__main__ import write_clip
from data.synthetic.clip import ClipConfig
from data.video import open_video
from pipeline import run as run_cli

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from pipeline.serve import create_app, decode_mask, encode_mask  # noqa: E402


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A served folder: a generated clip, the same frames as a folder, and one image."""
    root = tmp_path_factory.mktemp("served")
    write_clip(root / "airport", ClipConfig(frames=30, objects=8, size=288, seed=3), progress=False)
    cap = cv2.VideoCapture(str(root / "airport" / "clip.avi"))
    (root / "frames" / "img").mkdir(parents=True)
    for n in range(1, 6):
        ok, img = cap.read()
        cv2.imwrite(str(root / "frames" / "img" / f"{n:06d}.png"), img)
    shutil.copy(root / "frames" / "img" / "000002.png", root / "still.png")
    shutil.rmtree(root / "airport" / "masks")  # numbered mask images would be listed as a clip too
    return root


@pytest.fixture(scope="module")
def model():
    from rossam import build_rossam

    return build_rossam("tiny", "default").eval()


@pytest.fixture(scope="module")
def client(root, model, tmp_path_factory):
    with TestClient(create_app([root], model=model, runs_dir=tmp_path_factory.mktemp("runs"))) as c:
        yield c


def _wait(client, rid: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/runs/{rid}").json()
        if run["status"] != "running":
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {rid} did not end in {timeout} s")


def _largest_at(gt, frame: int, also: int):
    """The largest object of ``frame`` that is also in frame ``also``: (id, box)."""
    at = gt.frames == frame
    later = set(gt.ids[gt.frames == also].tolist())
    rows = [k for k in np.flatnonzero(at) if gt.ids[k] in later]
    k = max(rows, key=lambda k: np.prod(gt.boxes[k, 2:] - gt.boxes[k, :2]))
    return int(gt.ids[k]), gt.boxes[k]


def test_masks_travel_as_run_lengths():
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (3, 7), (16, 9)]:
        for fill in (0.0, 0.5, 1.0):
            m = rng.random(shape) < fill
            enc = encode_mask(m, (4, 5))
            assert (enc["x"], enc["y"], enc["w"], enc["h"]) == (4, 5, shape[1], shape[0])
            assert sum(enc["runs"]) == m.size and np.array_equal(decode_mask(enc), m)


def test_items_and_frames(client, root):
    items = {i["id"]: i for i in client.get("/api/items").json()["items"]}
    assert items["0/airport/clip.avi"]["kind"] == "video" and items["0/airport/clip.avi"]["frames"] == 30
    assert items["0/frames"]["kind"] == "frames" and items["0/frames"]["last"] == 5
    assert items["0/still.png"]["kind"] == "image" and items["0/still.png"]["width"] == 288
    expected = {f.number: f.image for f in open_video(root / "airport" / "clip.avi")}
    for n in (7, 3, 30, 4):  # forwards, back, to the end, back again
        r = client.get("/api/frame", params={"item": "0/airport/clip.avi", "n": n})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        png = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
        assert np.array_equal(png, expected[n])


def test_paths_outside_the_served_ones_are_refused(client, root, tmp_path):
    outside = tmp_path / "secret.png"
    shutil.copy(root / "still.png", outside)
    (root / "link.png").symlink_to(outside)
    try:
        for item in ("0/../secret.png", "0/../../etc/passwd", "0/link.png", "0/airport/../../x.png"):
            r = client.get("/api/frame", params={"item": item})
            assert r.status_code in (403, 404) and "detail" in r.json(), item
        r = client.get("/api/frame", params={"item": "0/link.png"})
        assert r.status_code == 403 and "outside the served paths" in r.json()["detail"]
        assert client.get("/api/frame", params={"item": "1/x.avi"}).status_code == 404
        assert client.get("/api/runs/0001/files/..%2F..%2Fsecret.png").status_code == 404
    finally:
        (root / "link.png").unlink()


def test_bad_requests_get_a_4xx_with_a_message(client):
    cases = [
        (client.post("/api/segment", json={"item": "0/still.png", "boxes": [[10, 10, 5, 5]]}), 400, "x2 > x1"),
        (client.post("/api/runs", json={"item": "0/still.png"}), 400, "one image"),
        (client.post("/api/runs", json={"item": "0/frames", "prompts": [{"frame": 1, "box": [1, 1, 4, 4],
                                                                          "class": "boat"}]}), 400, "unknown class"),
        (client.post("/api/runs", json={"item": "0/frames", "prompts": [{"box": [1, 1, 4, 4]}]}), 400, "prompts[0]"),
        (client.get("/api/frame", params={"item": "0/frames", "n": 9}), 404, "frames 1 to 5"),
        (client.get("/api/runs/9999"), 404, "no run"),
        (client.post("/api/segment", json={"boxes": []}), 422, "item"),
    ]
    for r, status, words in cases:
        assert r.status_code == status, (r.status_code, r.text)
        assert words in r.text and "Traceback" not in r.text


def test_a_token_is_asked_for_when_one_is_set(root, model, tmp_path):
    with TestClient(create_app([root], token="s3cret", model=model, runs_dir=tmp_path)) as c:
        assert c.get("/api/items").status_code == 401
        assert c.get("/api/items", params={"token": "wrong"}).status_code == 401
        assert c.get("/api/items", params={"token": "s3cret"}).status_code == 200
        assert c.get("/api/items", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/").status_code == 200  # the page itself reads the token from its address


def test_segmenting_boxes_on_an_image(client, root):
    gt = read_mot(root / "airport" / "gt.txt")
    _, box = _largest_at(gt, 2, 2)
    r = client.post("/api/segment", json={"item": "0/still.png", "boxes": [box.tolist()]}).json()
    (obj,) = r["objects"]
    m = decode_mask(obj["mask"])
    ys, xs = np.nonzero(m)
    cx, cy = xs.mean() + obj["mask"]["x"], ys.mean() + obj["mask"]["y"]
    assert box[0] <= cx <= box[2] and box[1] <= cy <= box[3]


@pytest.mark.slow
def test_one_run_per_clip_and_prompts_while_it_runs(client, root):
    gt = read_mot(root / "airport" / "gt.txt")
    _, box = _largest_at(gt, 1, 2)
    run = client.post("/api/runs", json={"item": "0/airport/clip.avi", "prompts": [{"frame": 1, "box": box.tolist()}]})
    assert run.status_code == 201
    rid = run.json()["id"]
    second = client.post("/api/runs", json={"item": "0/airport/clip.avi"})
    assert second.status_code == 409 and f"run {rid}" in second.json()["detail"]
    added = client.post(f"/api/runs/{rid}/add", json={"boxes": [[10, 10, 20, 20]], "classes": ["car"]}).json()
    (new,) = added["ids"]
    assert added["frame"] >= 1
    assert client.post(f"/api/runs/{rid}/remove", json={"ids": [new, 99]}).json()["removed"] == [new]
    removed_before = client.get(f"/api/runs/{rid}").json()["next_frame"]
    client.post(f"/api/runs/{rid}/stop")
    done = _wait(client, rid)
    assert done["status"] in ("stopped", "done")
    assert all(t["last"] < removed_before for t in done["tracks"] if t["id"] == new)  # reported no more
    assert client.post(f"/api/runs/{rid}/add", json={"boxes": [[1, 1, 4, 4]]}).status_code == 409
    again = client.post("/api/runs", json={"item": "0/airport/clip.avi", "end": 2})  # the clip is free again
    assert again.status_code == 201 and _wait(client, again.json()["id"])["status"] == "done"


@pytest.mark.slow
def test_a_run_from_the_api_gives_the_command_lines_tracks(client, root, tmp_path):
    gt = read_mot(root / "airport" / "gt.txt")
    at1 = gt.frames == 1
    prompts = [{"frame": 1, "box": b.tolist(), "class": "car"} for b in gt.boxes[at1][:3]]
    run = client.post("/api/runs", json={"item": "0/airport/clip.avi", "end": 10, "prompts": prompts}).json()
    done = _wait(client, run["id"])
    assert done["status"] == "done" and {"tracks.txt", "masks.jsonl", "summary.json"} <= set(done["files"])
    page = client.get(f"/api/runs/{run['id']}/files/tracks.txt").content
    prompts_file = tmp_path / "prompts.txt"
    prompts_file.write_bytes(client.get(f"/api/runs/{run['id']}/files/prompts.txt").content)
    out = tmp_path / "cli"
    assert run_cli.main([str(root / "airport" / "clip.avi"), "--init", str(prompts_file), "--end", "10", "--out",
                         str(out), "--no-overlay"]) == 0
    assert page == (out / "tracks.txt").read_bytes() and len(page)


def test_configuration_overrides_apply_to_every_run_of_the_page(root, model, tmp_path):
    with pytest.raises(ValueError, match="did you mean max_age"):
        create_app([root], model=model, runs_dir=tmp_path / "bad", overrides=["tracker.max_aeg=3"])
    app = create_app([root], model=model, runs_dir=tmp_path / "runs", overrides=["tracker.max_age=3", "lookback=2"])
    with TestClient(app) as c:
        run = c.post("/api/runs", json={"item": "0/airport/clip.avi", "end": 4}).json()
        assert _wait(c, run["id"])["status"] == "done"
        config = c.get(f"/api/runs/{run['id']}/files/summary.json").json()["config"]
    assert config["tracker"]["max_age"] == 3 and config["lookback"] == 2


# -- the page in a real browser ----------------------------------------------------------------
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture
def server(root, model, tmp_path):
    import uvicorn

    app = create_app([root], model=model, runs_dir=tmp_path / "runs")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(60)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed (apt-get install chromium)")
def test_the_page_draws_a_box_runs_and_shows_the_mask(server, root, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    gt = read_mot(root / "airport" / "gt.txt")
    obj, box = _largest_at(gt, 1, 10)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
            page.goto(server + "/")
            page.wait_for_selector("#canvas[data-frame='1']")
            page.select_option("#item", "0/airport/clip.avi")
            page.wait_for_selector("#canvas[data-frame='1']")
            _drag(page, box, 288)
            assert page.locator("#prompts li").count() == 1
            page.fill("#end", "10")
            page.click("#run")
            page.wait_for_selector("body[data-status='done']", timeout=180_000)
            page.wait_for_selector("#canvas[data-frame='10']")
            _screenshot(page, tmp_path, "serve-run.png")
            # the track list holds the track, from frame 1 to 10
            rows = page.locator("#tracks tr")
            assert rows.count() == 1
            cells = rows.first.locator("td").all_inner_texts()
            assert cells[0].strip() == "1" and cells[2:4] == ["1", "10"]
            # the canvas shows the object's mask where the object is (boxes and ids off)
            page.uncheck("#show-boxes")
            frame10 = next(f.image for f in open_video(root / "airport" / "clip.avi") if f.number == 10)
            changed = _changed(page, frame10)
            b10 = gt.boxes[(gt.frames == 10) & (gt.ids == obj)][0]
            ys, xs = np.nonzero(changed)
            assert len(xs) >= 4
            assert b10[0] <= xs.mean() <= b10[2] and b10[1] <= ys.mean() <= b10[3]
            grown = (xs >= b10[0] - 3) & (xs <= b10[2] + 3) & (ys >= b10[1] - 3) & (ys <= b10[3] + 3)
            assert grown.mean() >= 0.7
            # the downloaded tracks.txt is the command line's with the same prompts
            with page.expect_download() as d:
                page.click("#dl-tracks")
            downloaded = Path(d.value.path()).read_bytes()
            with page.expect_download() as d:
                page.click("#dl-prompts")
            prompts = tmp_path / "prompts.txt"
            shutil.copy(d.value.path(), prompts)
            # single-image mode: a box drawn on an image is segmented at once
            page.check("#show-boxes")
            page.select_option("#item", "0/still.png")
            page.wait_for_selector("#canvas[data-frame='1']")
            _, still_box = _largest_at(gt, 2, 2)
            _drag(page, still_box, 288)
            page.click("#segment")
            page.wait_for_selector("#message:has-text('segmented')")
            _screenshot(page, tmp_path, "serve-image.png")
            page.uncheck("#show-boxes")
            changed = _changed(page, cv2.imread(str(root / "still.png"))[..., ::-1])
            ys, xs = np.nonzero(changed)
            assert len(xs) >= 4 and still_box[0] <= xs.mean() <= still_box[2] and still_box[1] <= ys.mean() <= still_box[3]
        finally:
            browser.close()
    out = tmp_path / "cli"
    assert run_cli.main([str(root / "airport" / "clip.avi"), "--init", str(prompts), "--end", "10", "--out", str(out),
                         "--no-overlay"]) == 0
    assert downloaded == (out / "tracks.txt").read_bytes() and downloaded.count(b"\n") == 10


def _drag(page, box, size: int) -> None:
    """Draw ``box`` (frame pixels) with the mouse, in the canvas's displayed scale."""
    r = page.locator("#canvas").bounding_box()
    sx, sy = r["width"] / size, r["height"] / size
    page.mouse.move(r["x"] + box[0] * sx, r["y"] + box[1] * sy)
    page.mouse.down()
    page.mouse.move(r["x"] + box[2] * sx, r["y"] + box[3] * sy, steps=5)
    page.mouse.up()


def _changed(page, frame: np.ndarray) -> np.ndarray:
    """Where the canvas differs from the bare frame (what the page painted over it)."""
    h, w = frame.shape[:2]
    shown = np.array(page.evaluate(
        f"() => Array.from(document.getElementById('canvas').getContext('2d').getImageData(0, 0, {w}, {h}).data)"),
        np.int16).reshape(h, w, 4)[..., :3]
    return np.abs(shown - frame.astype(np.int16)).max(axis=2) > 8


def _screenshot(page, tmp_path: Path, name: str) -> None:
    """Into the test's folder, and into $SCREENSHOTS when set (the README's pictures)."""
    page.screenshot(path=str(tmp_path / name))
    if os.environ.get("SCREENSHOTS"):
        Path(os.environ["SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, Path(os.environ["SCREENSHOTS"]) / name)


def test_numbered_scenes_are_images_not_a_clip(tmp_path, model):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for n in (706, 1888):
        cv2.imwrite(str(scenes / f"P{n:04d}.png"), np.zeros((20, 30, 3), np.uint8))
    with TestClient(create_app([tmp_path], model=model, runs_dir=tmp_path / "runs")) as c:
        items = {i["id"]: i["kind"] for i in c.get("/api/items").json()["items"]}
    assert items == {"0/scenes/P0706.png": "image", "0/scenes/P1888.png": "image"}

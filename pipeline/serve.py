"""An interactive page over local clips: draw boxes, watch masks and tracks stream in, correct
them, export.

    python -m pipeline.serve [PATH ...] [--host 127.0.0.1] [--port 8765] [--token TOKEN]

PATH: video files, frame folders, images, or folders holding them (default: the current
folder); only files under these paths are served. The server binds to 127.0.0.1 unless told
otherwise; on any other address every API request needs the token (printed at start, or given
with --token), as ``?token=`` or an ``Authorization: Bearer`` header.

The page is plain HTML, CSS and JavaScript over a JSON API (documented in the README); the
same API serves scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

STATIC = Path(__file__).parent / "static"
FILES = ("tracks.txt", "masks.jsonl", "summary.json", "overlay.mp4", "overlay.avi", "prompts.txt")


def encode_mask(mask: np.ndarray, offset) -> dict:
    """A boolean crop as run lengths over its rows (the first run is of zeros), with its
    top-left pixel ``x``, ``y`` in the frame: what the page paints."""
    flat = np.asarray(mask, bool).ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    h, w = mask.shape
    return {"x": int(offset[0]), "y": int(offset[1]), "w": int(w), "h": int(h), "runs": runs}


def decode_mask(m: dict) -> np.ndarray:
    """The inverse of ``encode_mask`` (the crop)."""
    values = np.arange(len(m["runs"])) % 2 == 1
    return np.repeat(values, m["runs"]).reshape(m["h"], m["w"])


# -- request bodies of the API ------------------------------------------------------------------
class SegmentRequest(BaseModel):
    """Boxes on one frame of a clip (or on an image, frame 1), segmented at once."""

    item: str
    frame: int = 1
    boxes: list[list[float]]


class RunRequest(BaseModel):
    """A run from ``start`` to ``end`` with ``prompts`` [{frame, box: [x1, y1, x2, y2], class?}]
    (the rows of ``--init``); without prompts, or with ``discover``, it discovers objects."""

    item: str
    start: int = 1
    end: int | None = None
    prompts: list[dict] = []
    discover: bool = False


class AddRequest(BaseModel):
    """Boxes (and optional classes) that start tracks at the running run's next frame."""

    boxes: list[list[float]]
    classes: list[str | None] | None = None


class RemoveRequest(BaseModel):
    ids: list[int]


@dataclass
class Run:
    id: str
    item: str
    out: Path
    frames: tuple[int, int | None]
    status: str = "running"  # running, done, stopped, error
    error: str | None = None
    events: list = field(default_factory=list)
    tracks: dict = field(default_factory=dict)  # id -> {class, first, last, frames, score}
    session: object = None
    thread: threading.Thread | None = None
    ready: threading.Event = field(default_factory=threading.Event)  # the session exists, or the run ended
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.perf_counter)
    done_frames: int = 0

    def describe(self) -> dict:
        files = [f for f in FILES if (self.out / f).is_file()]
        tracks = [{"id": i, **{k: v for k, v in t.items() if k != "score"},
                   "mean_score": round(t["score"] / t["frames"], 4)} for i, t in sorted(self.tracks.items())]
        return {"id": self.id, "item": self.item, "status": self.status, "error": self.error,
                "frames_done": self.done_frames, "start": self.frames[0], "end": self.frames[1],
                "next_frame": self.session.next_frame if self.session is not None else self.frames[0],
                "tracks": tracks, "files": files}


def create_app(paths: list[str | Path], *, token: str | None = None, variant: str = "tiny",
               checkpoint: str | None = "default", device: str = "auto", runs_dir: str | Path | None = None,
               model=None, overrides: list[str] | tuple[str, ...] = ()):
    """The web app over the clips and images under ``paths``. ``model``: a built model to use
    (default: built from ``variant`` / ``checkpoint`` on first use). ``overrides``: configuration
    fields set for every run (``pipeline.run --set``); a bad one is a ValueError here."""

    from data.mot import CLASS_IDS, CLASS_NAMES, class_id
    from trackers.tracker import check_boxes
    from data.video import VideoError

    from .core import PipelineConfig, with_overrides
    from .library import Frames, Library, OutsideRoots

    overrides = list(overrides)
    with_overrides(PipelineConfig(), overrides)  # refused at start, not at the first run
    library = Library(paths)
    runs_root = Path(runs_dir) if runs_dir else Path(tempfile.mkdtemp(prefix="rossam-runs-"))
    runs_root.mkdir(parents=True, exist_ok=True)
    runs: dict[str, Run] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        for run in runs.values():  # shutting down: runs stop after their frame in hand
            run.stop.set()
        for run in runs.values():
            if run.thread is not None:
                await asyncio.to_thread(run.thread.join, 60)

    app = FastAPI(title="ROS-SAM video", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.runs_dir = runs_root
    active: dict[str, str] = {}  # item id -> its running run
    frames: dict[str, Frames] = {}
    lock = threading.Lock()
    shared = {"model": model, "predictor": None}
    model_lock = threading.Lock()

    def get_model():
        with model_lock:
            if shared["model"] is None:
                from rossam import build_rossam, resolve_device

                shared["model"] = build_rossam(variant, checkpoint).to(resolve_device(device)).eval()
            return shared["model"]

    def frames_of(item_id: str) -> Frames:
        with lock:
            if item_id not in frames:
                if len(frames) >= 16:
                    frames.pop(next(iter(frames)))
                frames[item_id] = Frames(library.resolve(item_id))
            return frames[item_id]

    # -- errors: a status and one line, never a traceback ----------------------------------
    def error(status: int):
        async def handler(_request, exc):
            return JSONResponse({"detail": str(exc) or type(exc).__name__}, status_code=status)
        return handler

    app.add_exception_handler(OutsideRoots, error(403))
    app.add_exception_handler(FileNotFoundError, error(404))
    app.add_exception_handler(IndexError, error(404))
    app.add_exception_handler(VideoError, error(422))
    app.add_exception_handler(ValueError, error(400))
    app.add_exception_handler(Exception, error(500))

    @app.middleware("http")
    async def check_token(request: Request, call_next):
        if token and request.url.path.startswith("/api/"):
            given = request.query_params.get("token") or request.headers.get("authorization", "").removeprefix("Bearer ")
            if not secrets.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "a token is needed: ?token=... or Authorization: Bearer ..."}, 401)
        return await call_next(request)

    # -- the page ----------------------------------------------------------------------------
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    # -- clips, images and frames ------------------------------------------------------------
    @app.get("/api/items")
    def items():
        out = []
        for it in library.items():
            try:
                out.append(it.describe())
            except Exception as e:  # one unreadable file does not hide the others
                out.append({"id": it.id, "kind": it.kind, "name": it.id.split("/", 1)[1], "error": str(e)})
        return {"items": out, "classes": list(CLASS_IDS)}

    @app.get("/api/item")
    def item(item: str):
        return library.resolve(item).describe()

    @app.get("/api/frame")
    def frame(item: str, n: int = 1):
        image = frames_of(item).get(n)
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
        return Response(buf.tobytes(), media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @app.post("/api/segment")
    def segment(req: SegmentRequest):
        from rossam import BoxPredictor

        image = frames_of(req.item).get(req.frame)
        m = get_model()
        with model_lock:
            if shared["predictor"] is None:
                shared["predictor"] = BoxPredictor(m)
            pred = shared["predictor"].predict(image, req.boxes)  # checks the boxes
        objects = [
            {"box": [None if not np.isfinite(v) else round(float(v), 2) for v in pred.boxes[i]],
             "score": round(float(pred.iou[i]), 4), "mask": encode_mask(pred.masks[i], pred.offsets[i])}
            for i in range(len(pred))]
        return {"item": req.item, "frame": req.frame, "objects": objects}

    # -- runs ----------------------------------------------------------------------------------
    @app.post("/api/runs", status_code=201)
    def start_run(req: RunRequest):
        from .run import run_clip

        it = library.resolve(req.item)
        if it.kind == "image":
            raise ValueError(f"{req.item} is one image: segment it (POST /api/segment), runs are for clips")
        rows = []
        for k, p in enumerate(req.prompts):
            try:
                f, box, cls = int(p["frame"]), [float(v) for v in p["box"]], p.get("class")
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"prompts[{k}]: expected {{frame, box: [x1, y1, x2, y2], class?}}") from None
            check_boxes([box], f"prompts[{k}].box")
            cls = class_id(cls)
            rows.append(f"{f},{box[0]},{box[1]},{box[2]},{box[3]}" + (f",{cls}" if cls != -1 else ""))
        with lock:
            if req.item in active:
                raise HTTPException(409, f"a run on {req.item} is going (run {active[req.item]}): stop it first")
            rid = f"{len(runs) + 1:04d}"
            out = runs_root / rid
            out.mkdir(parents=True)
            init = None
            if rows:
                init = out / "prompts.txt"
                init.write_text("\n".join(rows) + "\n")
            cfg = PipelineConfig(variant=variant, checkpoint=checkpoint, device=device, init=str(init) if init else None,
                                 discover=True if req.discover else None, start=req.start, end=req.end)
            cfg = with_overrides(cfg, overrides)
            run = Run(rid, req.item, out, (req.start, req.end))
            runs[rid], active[req.item] = run, rid

        def on_session(session):
            run.session = session
            run.ready.set()

        def on_result(r):
            tracks = []
            t = r.tracks
            for k in range(len(t)):
                i = int(t.ids[k])
                rec = run.tracks.setdefault(i, {"class": CLASS_NAMES.get(int(t.classes[k])), "first": r.frame,
                                                "last": r.frame, "frames": 0, "score": 0.0})
                rec["last"], rec["frames"], rec["score"] = r.frame, rec["frames"] + 1, rec["score"] + float(t.scores[k])
                tracks.append({"id": i, "box": [round(float(v), 2) for v in t.boxes[k]],
                               "score": round(float(t.scores[k]), 4), "class": rec["class"],
                               "source": _source(int(t.sources[k])), "mask": encode_mask(r.masks[k], r.offsets[k])})
            run.done_frames += 1
            fps = run.done_frames / max(time.perf_counter() - run.started, 1e-6)
            run.events.append({"type": "frame", "frame": r.frame, "decoded": r.image is not None,
                               "live": int(t.live), "fps": round(fps, 3), "tracks": tracks})

        def work():
            try:
                summary = run_clip(it.path, out, cfg, overlay="mp4", model=get_model(), progress=False, save_every=0,
                                   on_session=on_session, on_result=on_result, stop=run.stop)
                run.error = summary["error"]
                run.status = ("done" if summary["complete"] or summary["truncated"]
                              else "stopped" if summary["error"] == "stopped" else "error")
            except Exception as e:
                run.status, run.error = "error", str(e) or type(e).__name__
            finally:
                run.ready.set()
                with lock:
                    active.pop(req.item, None)
                run.events.append({"type": "end", **run.describe()})

        run.thread = threading.Thread(target=work, daemon=True, name=f"run-{rid}")
        run.thread.start()
        return run.describe()

    def get_run(rid: str) -> Run:
        if rid not in runs:
            raise FileNotFoundError(f"no run {rid!r}")
        return runs[rid]

    def running(rid: str) -> Run:
        """The run, once its session exists (a run that just started is getting ready)."""
        run = get_run(rid)
        run.ready.wait(60)
        if run.status != "running" or run.session is None:
            raise HTTPException(409, f"run {rid} is not running ({run.status})")
        return run

    @app.get("/api/runs")
    def list_runs():
        return {"runs": [r.describe() for r in runs.values()]}

    @app.get("/api/runs/{rid}")
    def run_status(rid: str):
        return get_run(rid).describe()

    @app.post("/api/runs/{rid}/add")
    def add(rid: str, req: AddRequest):
        run = running(rid)
        with run.session.lock:  # the frame they start at, and the adding, between the same two frames
            frame = run.session.next_frame
            ids = run.session.add(req.boxes, req.classes)  # checks boxes and classes
        return {"ids": ids.tolist(), "frame": frame}

    @app.post("/api/runs/{rid}/remove")
    def remove(rid: str, req: RemoveRequest):
        run = running(rid)
        return {"removed": run.session.remove(req.ids).tolist()}

    @app.post("/api/runs/{rid}/stop")
    def stop(rid: str):
        run = get_run(rid)
        run.stop.set()
        return run.describe()

    @app.get("/api/runs/{rid}/events")
    async def events(rid: str, request: Request):
        run = get_run(rid)
        last = request.headers.get("last-event-id")
        start = int(last) + 1 if last and last.isdigit() else 0

        async def stream():
            i = start
            while True:
                while i < len(run.events):
                    ev = run.events[i]
                    yield f"id: {i}\nevent: {ev['type']}\ndata: {json.dumps(ev)}\n\n"
                    i += 1
                    if ev["type"] == "end":
                        return
                await asyncio.sleep(0.05)  # a client that leaves cancels this stream

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/api/runs/{rid}/files/{name}")
    def download(rid: str, name: str):
        run = get_run(rid)
        if name not in FILES or not (run.out / name).is_file():
            raise FileNotFoundError(f"run {rid} has no file {name!r}; it has {', '.join(run.describe()['files'])}")
        return FileResponse(run.out / name, filename=name)

    return app


def _source(code: int) -> str:
    from trackers.state import SOURCE_NAMES

    return SOURCE_NAMES[code]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    from .run import add_set_args

    p = argparse.ArgumentParser(prog="python -m pipeline.serve", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("paths", nargs="*", default=["."], help="clips, frame folders, images or folders of them")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--token", help="the token API requests must carry (default: none on 127.0.0.1, else a new one)")
    p.add_argument("--variant", default="tiny")
    p.add_argument("--checkpoint", default="default")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--runs", help="folder for the runs' outputs (default: a new temporary folder)")
    add_set_args(p, " for every run of the page")
    args = p.parse_args(argv)
    token = args.token or (None if _loopback(args.host) else secrets.token_urlsafe(16))
    try:
        app = create_app(args.paths, token=token, variant=args.variant, checkpoint=args.checkpoint,
                         device=args.device, runs_dir=args.runs, overrides=args.set)
    except (FileNotFoundError, ValueError) as e:
        print(f"pipeline.serve: error: {e}", file=sys.stderr)
        return 1
    import uvicorn

    url = f"http://{args.host}:{args.port}/" + (f"?token={token}" if token else "")
    print(f"pipeline.serve: {', '.join(args.paths)}; runs in {app.state.runs_dir}\n  open {url}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

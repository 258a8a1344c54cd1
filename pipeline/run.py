"""Segment and track moving objects in a satellite clip.

    python -m pipeline.run CLIP [--init BOXES | --init-gt GT | --discover] [--out DIR] ...

CLIP is a video file (.avi, .mp4, ...) or a folder of numbered frames. With no prompt option
the run discovers moving objects itself. Outputs (in --out, default: a folder named after the
clip): tracks.txt, masks.jsonl, overlay.mp4 (or .avi), summary.json.

The run saves its state beside its outputs (run_state.npz) every --save-every frames and when
Ctrl-C or SIGTERM stops it; --resume continues from there with the same clip and settings, and
its tracks.txt and masks.jsonl equal those of a run that never stopped.

Exit status: 0 done; 1 an error (partial results are written); 3 the video stopped before the
length its header declares (every output written; summary.json says where); 130 interrupted
(Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import platform
import signal
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm


def add_set_args(p: argparse.ArgumentParser, scope: str = "") -> None:
    """``--set FIELD=VALUE``, repeatable: configuration fields for ``core.with_overrides``
    (``pipeline.run``, ``pipeline.serve``, ``benchmarks.evaluate``). ``scope``: where they apply."""
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help=f"set a configuration field{scope}, e.g. tracker.max_age=20, discovery.gap=3 or lookback=4 "
                        "(repeatable; the fields are PipelineConfig's in pipeline/core.py, with its sections "
                        "tracker (TrackerConfig) and discovery (DiscoveryConfig))")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline.run", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("clip", help="video file or folder of frames")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--init", metavar="BOXES", help="file of frame,x1,y1,x2,y2[,class] rows to start tracks from")
    src.add_argument("--init-gt", metavar="GT", help="MOT / SAT-MTB ground truth: prompt each id at its first frame")
    p.add_argument("--discover", action="store_true", help="discover moving objects (the default without --init/--init-gt; "
                   "with them, discover new objects too)")
    p.add_argument("--variant", default="tiny", help="model variant: tiny (default), vit_b, vit_l, vit_h")
    p.add_argument("--checkpoint", default="default",
                   help="SAM / HQ-SAM .pth, ROS-SAM state folder or project .safetensors (default: embedded tiny)")
    p.add_argument("--random-init", action="store_true", help="run a variant with random weights (speed checks); "
                   "without it, a variant with no --checkpoint is refused")
    p.add_argument("--out", help="output folder (default: ./<clip name>)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "float32"],
                   help="the segmenter's arithmetic (auto: bf16 where the device has it in hardware: CUDA, "
                   "CPUs with AVX512-BF16 or AMX; else float32)")
    p.add_argument("--start", type=int, default=1, help="first frame (1-based)")
    p.add_argument("--end", type=int, help="last frame")
    p.add_argument("--classes", nargs="+", choices=["car", "airplane", "ship", "train"],
                   help="with --init/--init-gt: only objects of these classes")
    p.add_argument("--fixed-zoom", action="store_true", help="the paper's fixed crop window (x2 zoom) for every "
                   "object, instead of smaller windows for small objects")
    p.add_argument("--no-overlay", action="store_true", help="do not write the overlay video")
    p.add_argument("--overlay-format", choices=["mp4", "avi"], default="mp4")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    p.add_argument("--resume", action="store_true", help="continue the stopped run in --out from its saved state "
                   "(same clip and settings), appending to its outputs")
    p.add_argument("--save-every", type=int, default=100, metavar="N",
                   help="save the run's state every N frames, and on Ctrl-C / SIGTERM (0: never); default 100")
    add_set_args(p)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _fail(msg: str) -> int:
    print(f"pipeline.run: error: {msg}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except KeyboardInterrupt:  # before the loop started
        return 130
    except Exception as e:  # one clear line unless --debug
        if args.debug:
            raise
        return _fail(str(e) or type(e).__name__)


def _run(args) -> int:
    from data.boxes import read_init_boxes
    from data.mot import read_mot

    from .core import PipelineConfig, with_overrides

    clip = Path(args.clip)
    out = Path(args.out) if args.out else Path.cwd() / (clip.stem if clip.is_file() else clip.name)
    if out.exists() and not out.is_dir():
        return _fail(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (args.overwrite or args.resume):
        return _fail(f"{out}: output folder is not empty (use --overwrite)")
    # read prompt files first: a bad file fails before the model loads
    if args.init:
        read_init_boxes(args.init)
    if args.init_gt:
        read_mot(args.init_gt)
    if args.random_init and args.checkpoint != "default":
        return _fail("give either --checkpoint or --random-init, not both")
    cfg = PipelineConfig(
        variant=args.variant, checkpoint=None if args.random_init else args.checkpoint, device=args.device,
        init=args.init, init_gt=args.init_gt,
        discover=True if args.discover else None, start=args.start, end=args.end,
        classes=tuple(args.classes) if args.classes else None, adaptive_zoom=not args.fixed_zoom,
        precision=args.precision,
    )
    cfg = with_overrides(cfg, args.set)
    if args.save_every < 0:
        return _fail(f"--save-every must be 0 or more, got {args.save_every}")
    summary = run_clip(clip, out, cfg, overlay=None if args.no_overlay else args.overlay_format, debug=args.debug,
                       resume=args.resume, save_every=args.save_every)
    error = summary["error"]
    if summary["truncated"]:
        print(f"pipeline.run: {clip}: {error}; results for the {summary['frames_written']} frames read are in {out}",
              file=sys.stderr)
        return 3
    if error in ("interrupted", "terminated"):
        saved = "; resume with --resume" if summary["state"] else ""
        print(f"pipeline.run: {error} after {summary['frames_written']} frames; results so far in {out}{saved}",
              file=sys.stderr)
        return 130 if error == "interrupted" else 143
    if error:
        return _fail(f"{error}; partial results in {out}")
    print(f"{summary['frames']} frames, {summary['objects']} objects, {summary['fps']} fps; results in {out}")
    return 0


STATE = "run_state.npz"


def run_clip(clip: str | Path, out: str | Path, cfg, *, overlay: str | None = "mp4", segmenter=None, model=None,
             progress: bool | None = None, debug: bool = False, resume: bool = False, save_every: int = 100,
             on_session=None, on_result=None, stop: threading.Event | None = None) -> dict:
    """Run ``Pipeline(cfg)`` over ``clip`` and write its outputs into ``out`` (created).

    Returns the summary (also written as ``summary.json``): ``complete`` is false and ``error``
    says why when the run stopped early (``"interrupted"`` for Ctrl-C, ``"terminated"`` for
    SIGTERM); what was done is written either way. Errors opening the clip raise.
    ``progress=None`` shows a bar on a terminal only.

    The run's state is saved beside its outputs (``run_state.npz``) every ``save_every`` frames
    written (0: never) and when a first Ctrl-C or SIGTERM stops it after the frame in hand (a
    second Ctrl-C stops at once); ``resume`` continues from it, appending to the outputs, and
    refuses a state saved with other settings or another clip. A run that reaches the clip's
    end removes its state.

    For a caller that drives the run (the web page): ``model`` a built model to use;
    ``on_session(session)`` gets the session before the first frame (to add prompts or remove
    tracks while it runs); ``on_result(result)`` each frame's result once written; ``stop``
    ends the run after the frame in hand when set (``error`` is then ``"stopped"``).
    """
    from .core import Pipeline
    from .sinks import Sinks, write_json
    from .state import differences

    clip, out = Path(clip), Path(out)
    pipe = Pipeline(cfg, model=model, segmenter=segmenter)
    stream = pipe.open(clip)
    settings = _settings(cfg, clip, stream, segmenter)
    state_path = out / STATE
    state = None
    if resume:
        state = _load_state(out, state_path)
        diff = differences(state.settings, settings)
        if diff:
            raise ValueError(f"cannot resume {out}: it was run with other settings or another clip: " + "; ".join(diff))
    out.mkdir(parents=True, exist_ok=True)
    sinks = Sinks(out, stream.size, stream.fps or 10.0, overlay, resume=state.outputs if state else None)
    session = pipe.session(clip, state)
    session.state.settings = settings
    resumed_from = session.next_frame if resume else None
    frames0 = pipe.stats.frames
    total = None
    if stream.length:
        last = min(stream.length, cfg.end) if cfg.end else stream.length
        total = max(0, last - cfg.start + 1)
    complete, error = False, None
    t0 = time.perf_counter()
    bar = tqdm(total=total, initial=sinks.frames, unit="frame", desc=clip.name,
               disable=None if progress is None else not progress)
    seconds = pipe.stats.seconds

    def save() -> None:
        t = time.perf_counter()
        with session.lock:
            session.state.outputs = sinks.position()
            session.state.save(state_path)
        seconds["save"] = seconds.get("save", 0.0) + time.perf_counter() - t

    if on_session is not None:
        on_session(session)
    results = session.results()
    try:
        with _StopOnSignal(stop) as stopping:
            for r in results:
                t = time.perf_counter()
                sinks.write(r.frame, r.image, r.tracks, r.masks, r.offsets)
                seconds["write"] = seconds.get("write", 0.0) + time.perf_counter() - t
                bar.update(1)
                bar.set_postfix(live=r.tracks.live, tracks=len(pipe.stats.track_ids), refresh=False)
                if on_result is not None:
                    on_result(r)
                if save_every and (stopping.reason or sinks.frames % save_every == 0):
                    save()
                if stopping.reason:
                    error = stopping.reason
                    break
            else:
                complete = True
                state_path.unlink(missing_ok=True)
                if stream.truncated:
                    complete = False
                    t = stream.truncated
                    error = (f"truncated: the header declares {t['declared']} frames, decoding stopped at frame "
                             f"{t['stopped_at']}")
    except KeyboardInterrupt:
        error = "interrupted"
        print("\npipeline.run: interrupted; writing what was done", file=sys.stderr)
    except Exception as e:
        error = str(e) or type(e).__name__
        if debug:
            raise
    finally:
        results.close()
        bar.close()
        paths = sinks.close()
        elapsed = time.perf_counter() - t0
        s = pipe.stats
        import torch

        from rossam.predictor import resolve_precision

        if pipe.model is not None:
            model = {"variant": cfg.variant, "checkpoint": str(cfg.checkpoint), "device": str(pipe.device),
                     "precision": resolve_precision(pipe.device, cfg.precision),
                     "parameters": sum(p.numel() for p in pipe.model.parameters())}
        else:
            model = {"segmenter": getattr(segmenter, "name", type(segmenter).__name__)}
        summary = {
            "complete": complete,
            "error": error,
            "clip": str(clip),
            "frames": s.frames,
            "frames_skipped": s.skipped,
            "frames_written": sinks.frames,
            "frames_declared": stream.length,
            "truncated": stream.truncated,
            "resumed_from": resumed_from,
            "state": STATE if state_path.exists() else None,
            "objects": len(s.track_ids),
            "prompts": s.prompts,
            "encoder_passes": s.encoder_passes,
            "seconds": round(elapsed, 3),
            "seconds_per_stage": {k: round(v, 3) for k, v in s.seconds.items()},
            "fps": round((s.frames - frames0) / elapsed, 3) if elapsed > 0 else None,
            "model": model,
            "config": dataclasses.asdict(cfg),
            "outputs": [p.name for p in paths],
            "machine": {"python": platform.python_version(), "torch": torch.__version__,
                        "threads": torch.get_num_threads()},
        }
        write_json(out / "summary.json", summary)
    return summary


def _load_state(out: Path, path: Path):
    from .state import RunState

    if not path.is_file():
        summary = out / "summary.json"
        if summary.is_file() and json.loads(summary.read_text()).get("complete"):
            raise ValueError(f"nothing to resume: the run in {out} is complete")
        raise ValueError(f"nothing to resume: no saved state ({STATE}) in {out}")
    return RunState.load(path)


def _settings(cfg, clip: Path, stream, segmenter) -> dict:
    """What a resumed run must share with the saved one: the configuration (less the last
    frame and the decode queue, which change no result), the prompt files' contents, the
    segmenter, and the clip."""
    from .state import as_json

    config = as_json(dataclasses.asdict(cfg))
    for free in ("end", "queue_size"):
        config.pop(free)
    files = {k: hashlib.sha1(Path(getattr(cfg, k)).read_bytes()).hexdigest() for k in ("init", "init_gt") if getattr(cfg, k)}
    identity = {"path": str(clip.resolve()), "size": list(stream.size), "frames": stream.length}
    if clip.is_file():
        st = clip.stat()
        identity.update(bytes=st.st_size, modified_ns=st.st_mtime_ns)
    else:
        identity.update(first=getattr(stream, "first", None), last=getattr(stream, "last", None))
    seg = None if segmenter is None else getattr(segmenter, "name", type(segmenter).__name__)
    return {"config": config, "prompt_files": files, "segmenter": seg, "clip": identity}


class _StopOnSignal:
    """Ctrl-C or SIGTERM ask the run to stop after the frame in hand (``reason`` is then set),
    so that its state is saved whole; a second Ctrl-C stops at once. Only in the main thread
    (elsewhere, signals are not this run's to take). ``event``: a caller's request to stop."""

    def __init__(self, event: threading.Event | None = None):
        self._reason: str | None = None
        self._event = event
        self._old: dict = {}

    @property
    def reason(self) -> str | None:
        if self._reason is None and self._event is not None and self._event.is_set():
            self._reason = "stopped"
        return self._reason

    def _handle(self, sig, _frame) -> None:
        if self._reason is not None and sig == signal.SIGINT:
            raise KeyboardInterrupt
        self._reason = "interrupted" if sig == signal.SIGINT else "terminated"
        print(f"\npipeline.run: {self.reason}; stopping after this frame (Ctrl-C again to stop now)", file=sys.stderr)

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


if __name__ == "__main__":
    raise SystemExit(main())

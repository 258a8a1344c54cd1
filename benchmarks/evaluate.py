"""Run the pipeline over every sequence of a data set and score it: the batch benchmark.

    python -m benchmarks.evaluate DATA_ROOT --out DIR [--init-gt | --discover] [--checkpoint PATH]
                                  [--segmenter rossam|grabcut|box] [--fixed-zoom] [--workers N]
                                  [--iou 0.5 | --match centre --distance 5] [--peer FILE]

A sequence is a folder under DATA_ROOT with ground truth (``gt.txt`` from the generator,
``gt/gt.txt``, or SAT-MTB's ``mot/``) and a clip (a video file, or ``img/`` / ``img1/`` frames).
Each one's pipeline outputs go to ``DIR/SEQ/``; the scores (``benchmarks.score``) to the console,
``DIR/scores.json`` and, with ``--report``, ``DIR/report/``. With ``--peer FILE``, another
tracker's output kept in a sequence's folder under that name (MOT rows) is scored the same way
and listed beside ours as ``SEQ (peer)``.

Resumable: a sequence whose ``summary.json`` says complete is skipped; DIR remembers the
settings it was made with and refuses others. Sequences are spread over ``--workers`` local
processes, and over processes or machines started by ``accelerate launch`` (each takes every
n-th sequence; the outputs are gathered on the main process, which scores them all)::

    accelerate launch --multi_gpu --num_processes 2 -m benchmarks.evaluate DATA_ROOT --out DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from pipeline.run import add_set_args

from .score import add_matching_args

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".m4v")
SEGMENTERS = ("rossam", "grabcut", "box")
OUTPUTS = ("tracks.txt", "masks.jsonl", "summary.json")


@dataclasses.dataclass
class Job:
    name: str
    clip: Path
    gt: Path
    out: Path


def find_clip(folder: Path) -> Path | None:
    """The sequence's clip: ``clip.avi`` or the only video file, else its frame folder."""
    if (folder / "clip.avi").is_file():
        return folder / "clip.avi"
    videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if len(videos) == 1:
        return videos[0]
    for frames in ("img", "img1"):
        if (folder / frames).is_dir():
            return folder / frames
    return None


def plan(data_root: Path, out: Path) -> tuple[list[Job], dict[str, str]]:
    """Jobs for every sequence with a clip, and {name: why} for those that cannot run."""
    from .score import ground_truth_folders

    jobs, skipped = [], {}
    for name, (folder, gt, _) in ground_truth_folders(data_root).items():
        clip = find_clip(folder)
        if clip is None:
            skipped[name] = "no clip (video file or img/ frames)"
            continue
        jobs.append(Job(name, clip, gt, out / name))
    return jobs, skipped


def is_done(job: Job) -> bool:
    try:
        return bool(json.loads((job.out / "summary.json").read_text()).get("complete"))
    except (OSError, ValueError):
        return False


def settings_of(args) -> dict:
    """What decides a sequence's outputs: a folder made with other settings is not resumed."""
    return {"mode": "discover" if args.discover else "init-gt", "segmenter": args.segmenter,
            "variant": args.variant, "checkpoint": args.checkpoint, "classes": args.classes,
            "fixed_zoom": args.fixed_zoom, **({"set": list(args.set)} if args.set else {})}


def make_segmenter(name: str):
    if name == "rossam":
        return None
    from .baselines import SEGMENTERS as BASELINES

    return BASELINES[name]()


def run_job(job: Job, settings: dict, device: str, threads: int | None = None) -> dict:
    """One sequence through the pipeline into ``job.out``; returns its summary."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    from pipeline.core import PipelineConfig, with_overrides
    from pipeline.run import run_clip

    discover = settings["mode"] == "discover"
    cfg = PipelineConfig(variant=settings["variant"], checkpoint=settings["checkpoint"], device=device,
                         init_gt=None if discover else str(job.gt), discover=True if discover else None,
                         classes=tuple(settings["classes"]) if settings["classes"] else None,
                         adaptive_zoom=not settings["fixed_zoom"])
    cfg = with_overrides(cfg, settings.get("set", []))
    try:
        summary = run_clip(job.clip, job.out, cfg, overlay=None, segmenter=make_segmenter(settings["segmenter"]),
                           progress=False)
    except Exception as e:  # the clip could not be opened: recorded, the others go on
        return {"complete": False, "error": str(e) or type(e).__name__, "frames": 0, "fps": None}
    if summary["error"] == "interrupted":
        raise KeyboardInterrupt
    return summary


def run_jobs(jobs: list[Job], settings: dict, device: str, workers: int, desc: str = "sequences") -> dict[str, dict]:
    from tqdm import tqdm

    results = {}
    bar = tqdm(total=len(jobs), unit="seq", desc=desc, disable=None)
    if workers <= 1:
        for job in jobs:
            bar.set_postfix_str(job.name)
            results[job.name] = run_job(job, settings, device)
            bar.update(1)
    else:
        import multiprocessing as mp

        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(run_job, job, settings, device, threads): job for job in jobs}
            for f in as_completed(futures):
                job = futures[f]
                results[job.name] = f.result()
                bar.set_postfix_str(job.name)
                bar.update(1)
    bar.close()
    return results


def _gather_outputs(state, jobs: list[Job], results: dict) -> dict:
    """Bring every process's outputs and summaries to the main process (machines may not share
    a disk); the main process writes those it does not have."""
    from accelerate.utils import gather_object

    mine = [(job.name, {f: (job.out / f).read_bytes() for f in OUTPUTS if (job.out / f).is_file()}, results[job.name])
            for job in jobs if job.name in results]
    folders = {job.name: job.out for job in jobs}
    merged = {}
    for name, files, summary in gather_object(mine):
        merged[name] = summary
        if not state.is_main_process:
            continue
        for f, data in files.items():
            if not (folders[name] / f).is_file():
                folders[name].mkdir(parents=True, exist_ok=True)
                (folders[name] / f).write_bytes(data)
    return merged


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.evaluate", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("data_root", help="folder of sequences (or one sequence)")
    p.add_argument("--out", required=True, help="results folder (resumed when it exists)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--init-gt", action="store_true", help="prompt each ground-truth id at its first frame (default)")
    mode.add_argument("--discover", action="store_true", help="no prompts: discover moving objects")
    p.add_argument("--segmenter", choices=SEGMENTERS, default="rossam",
                   help="rossam (default), or a baseline: grabcut from the prompt box; box: Kalman boxes on motion blobs")
    p.add_argument("--variant", default="tiny")
    p.add_argument("--checkpoint", default="default", help="as for pipeline.run (default: embedded tiny)")
    p.add_argument("--fixed-zoom", action="store_true", help="the paper's fixed crop window for every object")
    p.add_argument("--classes", nargs="+", choices=["car", "airplane", "ship", "train"], help="with --init-gt: only these")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", type=int, default=1, help="local processes (each on cores / workers threads)")
    add_matching_args(p)
    p.add_argument("--peer", metavar="FILE",
                   help="another tracker's output in each sequence folder (e.g. smtnet_reference.txt), scored beside ours")
    p.add_argument("--report", action="store_true", help="also write DIR/report/ (markdown and plots)")
    p.add_argument("--redo", action="store_true", help="run finished sequences again")
    add_set_args(p, " for every sequence (recorded in the results folder's settings)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except KeyboardInterrupt:
        print("\nbenchmarks.evaluate: interrupted; finished sequences are kept, run again to resume", file=sys.stderr)
        return 130
    except (OSError, ValueError) as e:
        print(f"benchmarks.evaluate: error: {e}", file=sys.stderr)
        return 1


def _main(args) -> int:
    import torch
    from accelerate import PartialState
    from pipeline.core import PipelineConfig, with_overrides

    from .score import format_table, matching_of, score, write_report

    data_root, out = Path(args.data_root), Path(args.out)
    if not data_root.is_dir():
        raise FileNotFoundError(f"{data_root}: no such folder")
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    state = PartialState(cpu=not torch.cuda.is_available())
    settings = settings_of(args)
    with_overrides(PipelineConfig(), args.set)  # a bad override fails before any sequence runs
    jobs, unusable = plan(data_root, out)
    if not jobs and not unusable:
        raise ValueError(f"{data_root}: no sequences (folders with gt.txt, gt/gt.txt or mot/)")
    record = out / "evaluate.json"
    if state.is_main_process:
        if record.is_file() and json.loads(record.read_text()) != settings:
            raise ValueError(f"{out} holds results made with other settings ({record}); use another --out")
        out.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(settings, indent=1))
    state.wait_for_everyone()

    todo = [j for j in jobs if args.redo or not is_done(j)]
    mine = todo[state.process_index :: state.num_processes]
    if state.is_main_process:
        print(f"{len(jobs)} sequences, {len(jobs) - len(todo)} done before, {len(todo)} to run"
              + (f" on {state.num_processes} processes" if state.num_processes > 1 else ""), file=sys.stderr)
    device = args.device if args.device != "auto" or state.device.type != "cuda" else str(state.device)
    results = run_jobs(mine, settings, device, args.workers, desc=f"rank {state.process_index}" if state.num_processes > 1 else "sequences")
    if state.num_processes > 1:
        results = _gather_outputs(state, todo, results)
    state.wait_for_everyone()
    if not state.is_main_process:
        return 0

    failed = {n: r.get("error") for n, r in results.items() if not r.get("complete")}
    match = matching_of(args)
    result = score(data_root, out, args.iou, match)
    if args.peer:
        result["peer"] = score_peer(data_root, args.peer, match)
    for name, why in {**unusable, **{n: f"run failed: {e}" for n, e in failed.items()}}.items():
        result["sequences"][name] = {"missing": [why]}
    result["settings"] = settings
    result["runs"] = {j.name: _run_facts(j) for j in jobs}
    (out / "scores.json").write_text(json.dumps(result, indent=1))
    print(format_table({**result["sequences"], **{f"{k} (peer)": v for k, v in result.get("peer", {}).items()}}))
    if result["classes"]:
        print()
        print(format_table(result["classes"]))
    if args.report:
        print(f"report: {write_report(result, out / 'report')}")
    for name, why in failed.items():
        print(f"benchmarks.evaluate: {name}: {why}", file=sys.stderr)
    return 1 if failed else 0


def score_peer(data_root: Path, name: str, match) -> dict:
    """Scores of the tracks file ``name`` found in each sequence folder (those without it are
    left out), with the same matching as ours."""
    import tempfile

    from .score import ground_truth_folders, score

    with tempfile.TemporaryDirectory() as tmp:
        found = 0
        for seq, (folder, _, _) in ground_truth_folders(data_root).items():
            if (folder / name).is_file():
                (Path(tmp) / f"{seq}.txt").write_bytes((folder / name).read_bytes())
                found += 1
        if not found:
            raise ValueError(f"--peer {name}: no sequence folder under {data_root} has that file")
        rows = score(data_root, tmp, match=match)["sequences"]
    return {k: v for k, v in rows.items() if "missing" not in v}


def _run_facts(job: Job) -> dict:
    try:
        s = json.loads((job.out / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return {k: s.get(k) for k in ("complete", "frames", "objects", "fps", "encoder_passes", "seconds")}


if __name__ == "__main__":
    raise SystemExit(main())

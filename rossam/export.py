"""Export a checkpoint as the project's single-file safetensors, LoRA merged, optionally float16.

    python -m rossam.export CHECKPOINT OUT.safetensors [--variant tiny] [--half]

This is how the embedded ``tiny`` weights are produced from a training run's best model.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rossam.export", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.add_argument("--variant", default="tiny")
    p.add_argument("--half", action="store_true", help="store float16 weights (half the size)")
    args = p.parse_args(argv)
    from .build import build_rossam
    from .checkpoint import CheckpointError, inspect_checkpoint, save_rossam
    from .lora import remove_lora

    try:
        info = inspect_checkpoint(args.checkpoint)
        model = build_rossam(args.variant, args.checkpoint)
    except (CheckpointError, ValueError) as e:
        print(f"rossam.export: {e}", file=sys.stderr)
        return 2
    remove_lora(model)
    extra = {k: v for k, v in (info.metadata or {}).items() if k not in ("variant", "hq", "lora")}
    save_rossam(model, args.out, half=args.half, extra=extra)
    print(f"wrote {args.out} ({json.dumps(extra)[:200]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

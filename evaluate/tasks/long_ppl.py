"""Long-context perplexity at 1K..32K tokens (EVALUATION.md "Long-context perplexity").

Documents: every ``.tex``/``.txt``/``.Rnw``/``.Rmd`` file of a folder in the data dir
(``long_latex/`` here), in file-name order. Each is tokenized without BOS, the token lists are
joined with ``<|endoftext|>`` into one stream, and for each length L the stream is cut into
non-overlapping windows of exactly L tokens. Of the ``M`` whole windows of a length, the task
keeps ``N`` spread evenly over the stream (window ``floor((2j + 1) * M / (2N))`` for ``j < N``),
so a short run still samples every part of the corpus rather than the first document's preamble.
Each window is one sample: a :class:`SequenceNLLRequest` with its token ids, so the backend scores
exactly L tokens (L - 1 predicted). Per length: PPL = exp(token-weighted mean NLL) over its windows
(metric ``length:L``; ``n`` = windows, predicted tokens = n * (L - 1)). The headline ``ppl`` pools
all lengths and is only a summary; the per-length values are the result.

Tokenization (why a task holds a tokenizer): a window must be exactly L *model* tokens, so the
task needs token ids at planning time, and tasks never touch the model. The task therefore
tokenizes with the Qwen byte-level BPE from the shared tokenizer files
(``tokenizers/qwen2/tokenizer.json`` in the data dir, else in ``../tokenizers/`` beside it; its
sha256 is recorded with the data files). Qwen, Qwen1.5, Qwen2, Qwen2.5 and Qwen3 share these ranks,
so the windows are the model's own tokens for every Qwen model; for a model with another
vocabulary this task is invalid, and its ``check_backend`` hook refuses it by checking that the
backend encodes :data:`VOCAB_PROBE` to the same ids.

Windows run one at a time (``batch_size_one``, honoured by ``evaluate_model``): a
length-dependent context knob (dynamic NTK, LogN, window attention: :mod:`evaluate.context`) must
see each window alone, and one 32K row at a time is also what fits in memory.

Variants: ``long_ppl`` (1K..32K, 8 windows per length) and ``long_ppl:cpu`` (1K..8K, 1 window per
length, for CPU runs of small models).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evaluate.data import DataDir, sha256_file
from evaluate.errors import EvaluateError, MalformedDataError, MissingDataError
from evaluate.records import RESULTS, read_json
from evaluate.registry import register
from evaluate.requests import Response, SequenceNLLRequest
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task, TaskReport

FOLDER = "long_latex"
EXTENSIONS = (".tex", ".txt", ".Rnw", ".Rmd")
LENGTHS = (1024, 2048, 4096, 8192, 16384, 32768)
TOKENIZER = "tokenizers/qwen2/tokenizer.json"
EOT = "<|endoftext|>"
# The backend must encode this text to these ids, or the windows are not the model's tokens.
VOCAB_PROBE = "\\begin{theorem} Let $f\\colon X\\to Y$ be 连续的 (x_1^2).\n\n  % done"


def tokenizer_path(data: DataDir) -> Path:
    """The Qwen tokenizer.json: in the data dir, else in the shared folder beside it."""
    return data.path(TOKENIZER, fallback=data.root.resolve().parent / TOKENIZER)


@functools.lru_cache(maxsize=4)
def _tokenizer(path: str, digest: str):  # digest: reload when the file changes
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


def encode(data: DataDir, text: str) -> list[int]:
    """Token ids of ``text`` with the task's tokenizer (no special tokens added)."""
    path = tokenizer_path(data)
    return _tokenizer(str(path), sha256_file(path)).encode(text, add_special_tokens=False).ids


@functools.lru_cache(maxsize=2)
def _stream(paths: tuple[str, ...], digests: tuple[str, ...], tok: str, tok_digest: str
            ) -> tuple[tuple[int, ...], tuple[tuple[str, int], ...]]:
    """The joined token stream and (file name, start offset) of each document in it."""
    tokenizer = _tokenizer(tok, tok_digest)
    eot = tokenizer.token_to_id(EOT)
    if eot is None:
        raise MalformedDataError(f"{tok}: the tokenizer has no {EOT} token")
    texts = [Path(p).read_text(encoding="utf-8") for p in paths]
    encoded = tokenizer.encode_batch(texts, add_special_tokens=False)
    stream: list[int] = []
    starts = []
    for path, enc in zip(paths, encoded, strict=True):
        if stream:
            stream.append(eot)
        starts.append((Path(path).name, len(stream)))
        stream.extend(enc.ids)
    return tuple(stream), tuple(starts)


def window_starts(total: int, length: int, windows: int) -> list[int]:
    """Start offsets of ``windows`` of the ``M = total // length`` whole windows, spread evenly.

    Window ``floor((2j + 1) * M / (2N))`` for ``j < N``: the centres of N equal parts of the stream.
    """
    available = total // length
    count = min(windows, available)
    return [((2 * j + 1) * available // (2 * count)) * length for j in range(count)]


def load(data: DataDir, folder: str, lengths: Sequence[int], windows: int) -> list[Doc]:
    root = data.root / folder
    if not root.is_dir():
        raise MissingDataError(f"missing data folder {folder!r}: looked in {root.resolve()}")
    files = [p for p in data.glob(f"{folder}/*") if p.suffix in EXTENSIONS]
    if not files:
        raise MissingDataError(f"{root}: no {'/'.join(EXTENSIONS)} files")
    tok = tokenizer_path(data)
    stream, starts = _stream(tuple(str(p) for p in files), tuple(sha256_file(p) for p in files),
                             str(tok), sha256_file(tok))
    docs = []
    for length in lengths:
        offsets = window_starts(len(stream), length, windows)
        if not offsets:
            raise MalformedDataError(
                f"{folder}: {len(stream)} tokens in all, fewer than one window of {length}"
            )
        ends = [at for _, at in starts[1:]] + [len(stream)]
        for start in offsets:
            names = [name for (name, at), end in zip(starts, ends, strict=True)
                     if at < start + length and end > start]
            docs.append(Doc(
                id=f"L{length}@{start}",
                target=None,
                meta={"length": length, "start": start, "documents": names},
                data=stream[start : start + length],
            ))
    return docs


def check_vocabulary(data: DataDir, backend_encode: Callable[[str], list[int]]) -> None:
    """Raise unless the model's tokenizer encodes :data:`VOCAB_PROBE` as the task's does."""
    ours, theirs = encode(data, VOCAB_PROBE), list(backend_encode(VOCAB_PROBE))
    if ours != theirs:
        raise EvaluateError(
            "long-context perplexity windows are Qwen tokens, but this model's tokenizer encodes "
            f"differently ({theirs[:8]} vs {ours[:8]}); the task needs a Qwen-vocabulary model"
        )


def check_backend(data: DataDir, backend: Any) -> None:
    """The task's backend check: the model must share the task's vocabulary."""
    check_vocabulary(data, backend.encode)


def build(doc: Doc) -> list[SequenceNLLRequest]:
    return [SequenceNLLRequest(token_ids=tuple(doc.data))]


def score(doc: ScoreInput, responses: list[Response]) -> Scored:
    """Mean NLL of the window's predicted tokens, weighted by their number."""
    nll, tokens = float(responses[0]["nll"]), int(responses[0]["num_tokens"])
    mean = nll / tokens
    return Scored(extracted=mean, score=mean, weight=tokens, extra={"nll": nll, "tokens": tokens})


def make_task(name: str, lengths: Sequence[int] = LENGTHS, windows: int = 8,
              folder: str = FOLDER) -> Task:
    """A long-context perplexity task over ``folder`` at ``lengths``, ``windows`` per length."""
    return Task(
        name=name,
        description=(f"perplexity of {windows} non-overlapping windows per length "
                     f"({', '.join(str(n) for n in lengths)} tokens) of {folder}/"),
        provenance="Qwen technical report Table 3 / README long-context table "
                   '(EVALUATION.md "Long-context perplexity")',
        shots=0,
        data_files=[f"{folder}/*.tex", f"{folder}/*.txt", TOKENIZER],
        load=functools.partial(load, folder=folder, lengths=tuple(lengths), windows=windows),
        build=build,
        score=score,
        aggregation=Aggregation(metric="ppl", by="length", per_group=True, transform="exp"),
        params={"folder": folder, "lengths": list(lengths), "windows_per_length": windows,
                "window_choice": "evenly spaced over the stream", "bos": False,
                "separator": EOT, "extensions": list(EXTENSIONS), "tokenizer": TOKENIZER},
        metric_note="exp(token-weighted mean NLL) per length; lower is better",
        batch_size_one=True,
        check_backend=check_backend,
        report=TaskReport(file="long_ppl.md", build=table_from_folder),
    )


def ppl_table(results: Sequence[dict[str, Any]]) -> str:
    """The report's shape: rows = model and variant, columns = lengths; reported rows beside.

    ``results`` are long_ppl results dicts (any variant); each cell is the PPL with its number of
    windows. Published rows (``evaluate/published/long_context_ppl.csv``) follow each model they
    name, matched by the last part of the model's path or hub id.
    """
    from evaluate.reported import REPORTED_DIR, model_key

    rows, lengths = [], sorted({int(k.split(":")[1]) for r in results
                                for k in r.get("metrics", {}) if k.startswith("length:")})
    reported_file = REPORTED_DIR / "long_context_ppl.csv"
    reported = list(csv.DictReader(reported_file.open(encoding="utf-8"))) \
        if reported_file.is_file() else []
    lengths = sorted(set(lengths) | ({1024 * 2**i for i in range(6)} if reported else set()))
    header = "| model | variant | " + " | ".join(f"{n // 1024}K" for n in lengths) + " |"
    lines = [header, "|---|---|" + "---:|" * len(lengths)]
    seen: set[str] = set()
    for result in results:
        model = result.get("model", {})
        name = str(model.get("model", "?"))
        variant = model.get("context", {}).get("variant", "none")
        cells = []
        for n in lengths:
            metric = result.get("metrics", {}).get(f"length:{n}")
            cells.append(f"{metric['value']:.2f} ({metric['n']})" if metric else "-")
        rows.append((name, f"| {name} | {variant} | " + " | ".join(cells) + " |"))
    for name, _ in rows:  # each model's rows together, then its published rows
        key = model_key(name)
        if key in seen:
            continue
        seen.add(key)
        lines.extend(line for other, line in rows if model_key(other) == key)
        for row in reported:
            if row["model"].split(" (")[0].lower() == key:
                cells = [row.get(f"ppl_{n}") or "-" for n in lengths]
                lines.append(f"| {row['model']} (reported) | {row['variant']} | "
                             + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_from_folder(output: Path) -> str:
    """:func:`ppl_table` over every long_ppl run under a results folder."""
    paths = sorted(Path(output).glob(f"*/long_ppl*/{RESULTS}"))
    return ppl_table([read_json(path) for path in paths])


register(make_task("long_ppl"))
register(make_task("long_ppl:cpu", lengths=LENGTHS[:4], windows=1))

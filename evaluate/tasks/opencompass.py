"""OpenCompass's prompt rendering for base models (PROTOCOLS_MORE.md A1), as small pure functions.

Every ``*:opencompass`` base task builds its prompts from these, so each inherits OpenCompass's
rules (as of OC@2954913d, the code that produced the Qwen1.5 tables) instead of re-deriving them:

- **Fields are filled one after another by plain replacement** (``utils/prompt.py:safe_format``):
  for each field of the row, in the loader's column order, every ``{name}`` becomes its value.
  A value that itself spells a later field (a LaTeX group such as ``\\bar{A}``) is replaced too;
  an unknown ``{x}`` stays. The in-context examples, already filled with their own row, are
  filled a second time with the question's row when they are put into the prompt.
- **A round template becomes text** (``models/base.py:LMTemplateParser`` with no meta template):
  the items (turn prompts and plain strings) are concatenated, each non-empty item after the first
  item preceded by ``"\\n"`` (an empty first item still makes the next one start with ``"\\n"``).
- **In-context examples** (``icl_base_retriever.py:generate_ice``): for a plain-string or
  label-keyed template, the shots are joined with ``ice_separator`` and followed by
  ``ice_eos_token`` (both ``"\\n"`` by default); when each shot is a round (a label-keyed dict
  of rounds), the separator and end token stay separate *items*, so the parser puts another
  ``"\\n"`` before each (three newlines between shots, five before the question). A plain round
  template (``begin``/``round``/``end`` only) gets no separator and an empty end item.
- **Generation mode** (``PromptTemplate.generate_item``): the output column is set to ``""``
  before filling, so a final BOT turn that is just that field vanishes.
- **Loaders** read CSVs with ``open(path, encoding="utf-8")`` and ``csv.reader``: text mode
  without ``newline=""``, so a ``\\r\\n`` inside a quoted field is read as ``\\n``.
- **Perplexity batches** (``HuggingFaceBaseModel.get_ppl`` under ``PPLInferencer`` /
  ``LLInferencer``, ``batch_size=8``): a label's prompts are scored 8 consecutive rows at a time,
  left-padded with ``<|endoftext|>``, no position ids. :func:`batched` declares that
  (``Task.request_batching``, one whole-prompt request per label) on a batch-independent task;
  :func:`unbatched` names the batch-independent form ``NAME-unbatched``.
- **Base-model output** (``HuggingFaceBaseModel.generate``): decoded with
  ``skip_special_tokens=True`` -- a special token such as ``<|im_end|>`` is dropped and the text
  after it kept -- then cut at each of the dataset's stopping strings.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluate.errors import MalformedDataError

Fields = Mapping[str, object]  # one row, in the loader's column order
ICE_TOKEN = "</E>"
# The special tokens of the Qwen1.5 tokenizer, dropped by decoding with skip_special_tokens.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


@dataclass(frozen=True)
class Turn:
    """One HUMAN/BOT item of a round template."""

    role: str
    prompt: str


Item = str | Turn


def fill(template: str, fields: Fields) -> str:
    """``safe_format``: replace ``{name}`` by each field's value in turn (values stringified)."""
    for name, value in fields.items():
        template = template.replace("{" + name + "}", str(value))
    return template


def fill_items(items: Sequence[Item], fields: Fields) -> list[Item]:
    """``PromptList.format``: fill every string item and every turn's prompt."""
    return [Turn(i.role, fill(i.prompt, fields)) if isinstance(i, Turn) else fill(i, fields)
            for i in items]


def render(items: Sequence[Item]) -> str:
    """``LMTemplateParser.parse_template`` without a meta template (a base model)."""
    text, separator = "", ""
    for item in items:
        value = item.prompt if isinstance(item, Turn) else item
        if value:
            text += separator + value
        separator = "\n"
    return text


def string_ice(template: Mapping[str, str] | str, shots: Sequence[Fields], label: str,
               separator: str = "\n", eos: str = "\n") -> str:
    """Shots of a plain-string (or label-keyed string) ice template (``label``: answer column)."""
    pick = (lambda _: template) if isinstance(template, str) else template.__getitem__
    return separator.join(fill(pick(str(s[label])), s) for s in shots) + eos


def round_ice(template: Mapping[str, Sequence[Turn]], shots: Sequence[Fields], label: str,
              separator: str = "\n", eos: str = "\n") -> list[Item]:
    """Shots of a label-keyed dict of rounds: the separator and end token stay separate items."""
    items: list[Item] = []
    for shot in shots:
        items += fill_items(template[str(shot[label])], shot)
        if separator:
            items.append(separator)
    items.append(eos)
    return items


def meta_ice(template: Sequence[Turn], shots: Sequence[Fields]) -> list[Item]:
    """Shots of a plain round template (prompt type ``meta``): no separator, an empty end item."""
    items: list[Item] = []
    for shot in shots:
        items += fill_items(template, shot)
    items.append("")
    return items


def string_prompt(template: str, ice: str, row: Fields) -> str:
    """``generate_label_prompt_item`` for a string template: insert the shots, fill the row."""
    return fill(template.replace(ICE_TOKEN, ice), row)


def round_prompt(template: Sequence[Item], ice: Sequence[Item], row: Fields) -> str:
    """A round template (its ``begin`` items first) with the shots in place of ``</E>``, filled
    with the question's row and rendered."""
    items: list[Item] = []
    for item in template:
        if isinstance(item, str) and ICE_TOKEN in item:
            parts = item.split(ICE_TOKEN)
            for number, part in enumerate(parts):
                if part:
                    items.append(part)
                if number < len(parts) - 1:
                    items += ice
        else:
            items.append(item)
    return render(fill_items(items, row))


def gen_row(row: Fields, output: str) -> dict[str, object]:
    """The row as generation mode fills it: the output column emptied, its position kept."""
    return {name: "" if name == output else value for name, value in row.items()}


def shared_context(prompts: Sequence[str], endings: Sequence[str]) -> str:
    """The context the per-label PPL prompts share, each being that context + its ending."""
    contexts = {p[: len(p) - len(e)] for p, e in zip(prompts, endings, strict=True)
                if p.endswith(e)}
    if len(contexts) != 1 or not all(p.endswith(e) for p, e in zip(prompts, endings,
                                                                     strict=True)):
        raise MalformedDataError("the candidate prompts do not share one context")
    return contexts.pop()


def read_csv(path: Path) -> list[list[str]]:
    """OpenCompass's CSV reading: text mode without ``newline=""`` (``\\r\\n`` read as ``\\n``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return list(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MalformedDataError(f"{path}: cannot be read as CSV ({exc})") from None


def read_csv_bytes(raw: bytes, where: str) -> list[list[str]]:
    """:func:`read_csv` on a file's bytes held in memory (e.g. read from an archive)."""
    try:
        return list(csv.reader(io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MalformedDataError(f"{where}: cannot be read as CSV ({exc})") from None


def base_output(text: str, stops: Sequence[str]) -> str:
    """A base model's decoded output: special tokens dropped, then cut at each stop string."""
    for token in SPECIAL_TOKENS:
        text = text.replace(token, "")
    for stop in stops:
        text = text.split(stop)[0]
    return text


def general_postprocess(text: str) -> str:
    """``general_postprocess`` (A4): cut at the first ``\\n``, ``.`` or ``,``; drop punctuation
    (``[^\\w\\s]``) and the words a/an/the; collapse whitespace; strip."""
    text = re.split(r"[\n.,]", text, maxsplit=1)[0]
    text = re.sub(r"[^\w\s]", "", text)
    text = re.sub(r"\b(a|an|the)\b", "", text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", text).strip()

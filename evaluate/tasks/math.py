"""MATH (Hendrycks et al. 2021), 4-shot, 5,000 test problems: three published protocols.

``math`` -- for the Qwen README's base number, which has no published script. The closest
published protocol is the one OpenCompass used to reproduce Qwen-7B in Sept 2023
(``math_gen_265cce`` at OC@2c915218; 11.06 against the reported 11.6; PROTOCOLS_MORE §E):

- Prompt: the four Minerva problems as HUMAN/BOT rounds, rendered for a base model (items joined
  with ``"\\n"``, doubled braces kept: :data:`~evaluate.tasks.math_prompts.OC2023_SHOTS`), then
  ``"\\nProblem:\\n" + problem + "\\nSolution:\\n"``. Greedy, 512 new tokens, no stop string; the
  prompt keeps its last 1,536 tokens (``max_seq_len`` 2048 minus 512, left truncation).
- Prediction: ``math_postprocess`` v1 (the first ``.``-piece mentioning "final answer"; decimals
  are cut at their point, a quirk). Reference: the last ``\\boxed{...}`` of the solution.
  Correct if Hendrycks's string equivalence holds (OpenCompass's 2023 ``MATHEvaluator``).
- Uncertain: that Qwen used this (or any OpenCompass) protocol; the engine (OpenCompass ran
  HF with batch 8, left padding); full 5,000 vs a subset.

``math:minerva`` -- the original Minerva protocol (Lewkowycz et al. 2022) as lm-evaluation-harness
``minerva_math`` runs it (LM@0348ed97): prompt ``MINERVA_LM + "\\n\\nProblem:\\n" + problem +
"\\n\\nSolution:"``, greedy, stop ``Problem:``, 256 new tokens (lm-eval's default); answer = the
text of ``Final Answer: The final answer is X. I hope it is correct.``; both sides through
Minerva's ``normalize_final_answer``; correct iff SymPy's ``parse_latex`` parses both and
``simplify(a - b) == 0``, within 5 s. No string-equality shortcut (a quirk: ``(1,2)`` or
``\\text{(C)}`` never parse, so never match). Timeouts and errors read as not equal and are
counted in ``results.json`` (``task_extra.equivalence``).

``math:opencompass`` -- ``math_4shot_base_gen_db136b`` (OC@2954913d, PROTOCOLS_MORE B2):
``MINERVA4 + "\\n\\nProblem:\\n" + problem + "\\nSolution:"`` (single-backslash quirk kept), 1,024
new tokens, stop ``Problem``; ``math_postprocess_v2``; ``MATHEvaluator(version='v2')``.

Every variant reports accuracy per subject type and per level (``category:*``) and keeps
``type``, ``level`` in each sample's meta. Scorers read only ``doc.target`` (the reference answer
as the protocol extracts it) and ``doc.meta``.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

from evaluate.data import DataDir, require_fields
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response, cut_at_stops
from evaluate.scoring.math_equiv import (
    boxed_answer,
    hendrycks_equiv,
    judge,
    last_boxed_only_string,
    minerva_answer,
    minerva_normalize,
    remove_boxed,
)
from evaluate.scoring.math_opencompass import (
    equiv_v2,
    extract_boxed_answer,
    postprocess_v1,
    postprocess_v2,
)
from evaluate.task import Aggregation, Doc, Scored, Task
from evaluate.tasks.math_prompts import MINERVA4, MINERVA_LM, OC2023_SHOTS

DATA_FILE = "math/test.jsonl"
TYPES = ("Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra",
         "Number Theory", "Prealgebra", "Precalculus")
LEVELS = tuple(f"Level {n}" for n in range(1, 6))
END_MARKERS = ("<|endoftext|>", "<|im_end|>")  # OpenCompass decodes with skip_special_tokens
SYMPY_TIMEOUT_S = 5.0  # Minerva's signal.alarm(5)

# name -> prompt template, stops, new tokens, kept context tokens
PROMPTS: dict[str, tuple[str, tuple[str, ...], int, int | None]] = {
    "oc2023": (OC2023_SHOTS + "\nProblem:\n{problem}\nSolution:\n", END_MARKERS, 512, 1536),
    "minerva": (MINERVA_LM + "\n\nProblem:\n{problem}\n\nSolution:", ("Problem:",), 256, None),
    "oc2024": (MINERVA4 + "\n\nProblem:\n{problem}\nSolution:", (*END_MARKERS, "Problem"),
               1024, None),
}


def reference(solution: str, protocol: str) -> str | None:
    """The gold answer as each protocol extracts it from the solution."""
    if protocol == "minerva":
        boxed = remove_boxed(last_boxed_only_string(solution, boxed_space=True), boxed_space=True)
        return None if boxed is None else minerva_normalize(boxed)
    if protocol == "oc2024":
        return extract_boxed_answer(solution)
    return boxed_answer(solution)


def load(data: DataDir, protocol: str = "oc2023") -> list[Doc]:
    docs = []
    for number, row in enumerate(data.read_jsonl(DATA_FILE), 1):
        require_fields(row, ("id", "problem", "level", "type", "solution"), f"{DATA_FILE}:{number}")
        meta = {"type": row["type"], "level": row["level"],
                "cell": f"{row['type']} / {row['level']}"}
        docs.append(Doc(id=row["id"], target=reference(row["solution"], protocol), meta=meta,
                        data={"problem": row["problem"]}))
    return docs


def build(doc: Doc, protocol: str = "oc2023") -> list[GenerateRequest]:
    template, stops, new_tokens, keep = PROMPTS[protocol]
    return [GenerateRequest(context=template.replace("{problem}", doc.data["problem"]),
                            stop=stops, max_new_tokens=new_tokens, max_context_tokens=keep)]


def score(doc: Doc, responses: list[Response]) -> Scored:
    completion = cut_at_stops(responses[0]["text"], PROMPTS["oc2023"][1])
    predicted = postprocess_v1(completion)
    return Scored(extracted=predicted, score=float(hendrycks_equiv(predicted, doc.target)))


def score_opencompass(doc: Doc, responses: list[Response]) -> Scored:
    completion = cut_at_stops(responses[0]["text"], PROMPTS["oc2024"][1])
    predicted = postprocess_v2(completion)
    return Scored(extracted=predicted, score=float(equiv_v2(predicted, doc.target)))


def score_minerva(doc: Doc, responses: list[Response]) -> Scored:
    completion = cut_at_stops(responses[0]["text"], PROMPTS["minerva"][1])
    predicted = minerva_normalize(minerva_answer(completion))
    outcome = judge(SYMPY_TIMEOUT_S).compare(predicted, doc.target or "")
    return Scored(extracted=predicted, score=float(outcome == "equal"),
                  extra={"equivalence": outcome})


def equivalence_counts(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """results.json ``task_extra``: how many SymPy comparisons ended each way."""
    counts = Counter(s.get("extra", {}).get("equivalence", "none") for s in samples)
    return {"equivalence": dict(sorted(counts.items())), "sympy_timeout_s": SYMPY_TIMEOUT_S}


AGGREGATION = Aggregation(
    metric="accuracy", by="cell",
    categories={**{t: [f"{t} / {lv}" for lv in LEVELS] for t in TYPES},
                **{lv: [f"{t} / {lv}" for t in TYPES] for lv in LEVELS}},
)


def _register(name: str, protocol: str, description: str, provenance: str, scorer: Any,
              **extra: Any) -> None:
    template, stops, new_tokens, keep = PROMPTS[protocol]
    register(Task(
        name=name, description=description, provenance=provenance, shots=4,
        data_files=(DATA_FILE,), load=partial(load, protocol=protocol),
        build=partial(build, protocol=protocol), score=scorer,
        aggregation=AGGREGATION,
        params={"protocol": protocol, "template": template, "stops": stops,
                "max_new_tokens": new_tokens, "max_context_tokens": keep, "decoding": "greedy"},
        metric_note="greedy; accuracy per type and level under category:*", **extra,
    ))


_register("math", "oc2023",
          "MATH 4-shot as OpenCompass reproduced Qwen-7B in 2023 (math_gen_265cce: v1 "
          "post-processing, Hendrycks string equivalence); Qwen's own protocol is unpublished",
          "OpenCompass@2c915218 configs/datasets/math/math_gen_265cce.py, "
          "opencompass/datasets/math.py (PROTOCOLS_MORE §E; uncertain: no Qwen script)", score)
_register("math:minerva", "minerva",
          "MATH 4-shot, Minerva protocol (Final Answer line, Minerva normalisation, SymPy "
          "parse_latex equivalence, 5 s per comparison)",
          "Lewkowycz et al. 2022 app. D; lm-evaluation-harness@0348ed97 "
          "lm_eval/tasks/minerva_math (PROTOCOLS_MORE §E)", score_minerva,
          results_extra=equivalence_counts)
_register("math:opencompass", "oc2024",
          "MATH 4-shot, OpenCompass math_4shot_base_gen_db136b (Minerva prompt with its "
          "single-backslash quirk, stop 'Problem', v2 post-processing and equivalence)",
          "OpenCompass@2954913d configs/datasets/math/math_4shot_base_gen_db136b.py "
          "(PROTOCOLS_MORE B2, X1, X3)", score_opencompass)

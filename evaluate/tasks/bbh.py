"""BIG-Bench Hard, 3-shot chain of thought, 27 tasks (6,511 questions); bbh = mean of the 27.

``bbh`` -- the original protocol (Suzgun et al. 2022; PROTOCOLS_MORE §E): prompt = the task's
``cot-prompts/<task>.txt`` without its first two lines (canary, ``-----``), then ``"\\n\\nQ: " +
input + "\\nA: Let's think step by step."`` -- the layout of the shots themselves. Greedy, 512
new tokens, cut at the next ``"\\n\\nQ:"``. Answer = what follows ``"So the answer is "``
(:func:`~evaluate.scoring.bbh.answer_after_trigger`), compared exactly with the target.
Uncertain: Qwen published no BBH script; the new-token limit and the cut are this harness's.

``bbh:opencompass`` -- ``bbh_gen_98fba6`` (OC@2954913d; PROTOCOLS_MORE B1): the same shots
after ``"Follow the given examples and answer the question.\\n"``, 512 new tokens, stop
``Q:``; the 17 multiple-choice tasks compare ``bbh_mcq_postprocess`` of reply and target, the 10
free-form tasks ``bbh_freeform_postprocess`` of the reply with the raw target.

``bbh:opencompass-2023`` -- ``bbh_gen_5bf00b`` (OC@2c915218), the config OpenCompass used to
reproduce Qwen-7B in Sept 2023 (40.03 against the reported 45.0; PROTOCOLS_MORE §E): the same
header and shots, the query ending ``"\\nA: "`` (no "Let's think step by step."), 512 new tokens,
no stop string, the prompt left-truncated to 1,536 tokens (``max_seq_len`` 2048 minus 512); scored
as ``bbh:opencompass`` (the post-processors were the same).

All report every task (``task:<name>``) and the unweighted mean over the 27 tasks.
"""

from __future__ import annotations

import json
from functools import partial

from evaluate.data import DataDir
from evaluate.errors import MalformedDataError
from evaluate.registry import register
from evaluate.requests import GenerateRequest, Response, cut_at_stops
from evaluate.scoring.bbh import answer_after_trigger, opencompass_freeform, opencompass_mcq
from evaluate.task import Aggregation, Doc, Scored, ScoreInput, Task

MC_TASKS = (
    "temporal_sequences", "disambiguation_qa", "date_understanding",
    "tracking_shuffled_objects_three_objects", "penguins_in_a_table", "geometric_shapes", "snarks",
    "ruin_names", "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_five_objects", "logical_deduction_three_objects", "hyperbaton",
    "logical_deduction_five_objects", "logical_deduction_seven_objects", "movie_recommendation",
    "salient_translation_error_detection", "reasoning_about_colored_objects",
)
FREE_FORM_TASKS = (
    "multistep_arithmetic_two", "navigate", "dyck_languages", "word_sorting",
    "sports_understanding", "boolean_expressions", "object_counting", "formal_fallacies",
    "causal_judgement", "web_of_lies",
)
TASKS = tuple(sorted(MC_TASKS + FREE_FORM_TASKS))
MAX_NEW_TOKENS = 512
END_MARKERS = ("<|endoftext|>", "<|im_end|>")
STOPS = (*END_MARKERS, "\n\nQ:")
OC_STOPS = (*END_MARKERS, "Q:")
QUERY = "\n\nQ: {input}\nA: Let's think step by step."
OC2023_QUERY = "\n\nQ: {input}\nA: "
OC2023_CONTEXT_TOKENS = 2048 - MAX_NEW_TOKENS
OC_HEADER = "Follow the given examples and answer the question.\n"


def shots(data: DataDir, task: str) -> str:
    """The CoT prompt file without its canary line and ``-----`` separator."""
    relative = f"bbh/cot-prompts/{task}.txt"
    lines = data.read_text(relative).split("\n", 2)
    if len(lines) < 3 or lines[1].strip() != "-----":
        raise MalformedDataError(f"{relative}: expected a canary line, '-----', then the shots")
    return lines[2]


def load(data: DataDir, header: str = "", query: str = QUERY) -> list[Doc]:
    docs = []
    for task in TASKS:
        relative = f"bbh/{task}.json"
        try:
            examples = json.loads(data.read_text(relative))["examples"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise MalformedDataError(f"{relative}: not a BBH task file ({exc})") from None
        prompt = header + shots(data, task)
        for number, example in enumerate(examples):
            if not {"input", "target"} <= set(example):
                raise MalformedDataError(f"{relative}: example {number} lacks input/target")
            docs.append(Doc(
                id=f"{task}/{number}", target=example["target"],
                meta={"task": task, "multiple_choice": task in MC_TASKS},
                data={"prompt": prompt + query.replace("{input}", example["input"])}))
    return docs


def build(doc: Doc, stops: tuple[str, ...] = STOPS,
          keep: int | None = None) -> list[GenerateRequest]:
    return [GenerateRequest(context=doc.data["prompt"], stop=stops,
                            max_new_tokens=MAX_NEW_TOKENS, max_context_tokens=keep)]


def score(doc: ScoreInput, responses: list[Response]) -> Scored:
    completion = cut_at_stops(responses[0]["text"], STOPS)
    answer = answer_after_trigger(completion)
    return Scored(extracted=answer, score=float(answer == doc.target))


def score_opencompass(doc: ScoreInput, responses: list[Response],
                      stops: tuple[str, ...] = OC_STOPS) -> Scored:
    completion = cut_at_stops(responses[0]["text"], stops)
    if doc.meta["multiple_choice"]:
        answer, gold = opencompass_mcq(completion), opencompass_mcq(doc.target)
    else:
        answer, gold = opencompass_freeform(completion), doc.target
    return Scored(extracted=answer, score=float(answer == gold))


AGGREGATION = Aggregation(metric="accuracy", average="macro", by="task", per_group=True)
DATA_FILES = ("bbh/*.json", "bbh/cot-prompts/*.txt")

register(Task(
    name="bbh",
    description="BIG-Bench Hard 3-shot CoT (27 tasks), answer after 'So the answer is', exact "
                "match; mean of the 27 task accuracies",
    provenance="Suzgun et al. 2022 (cot-prompts; PROTOCOLS_MORE §E; uncertain: no Qwen script)",
    shots=3, data_files=DATA_FILES, load=load, build=build, score=score,
    aggregation=AGGREGATION,
    params={"query": QUERY, "stops": STOPS, "max_new_tokens": MAX_NEW_TOKENS,
            "decoding": "greedy", "answer": "after 'So the answer is ', exact"},
    metric_note="greedy; per task under task:*",
))

register(Task(
    name="bbh:opencompass",
    description="BIG-Bench Hard 3-shot CoT, OpenCompass bbh_gen_98fba6 (MC and free-form "
                "post-processors of 2024-05-28); mean of the 27 task accuracies",
    provenance="OpenCompass@2954913d configs/datasets/bbh/bbh_gen_98fba6.py, "
               "opencompass/datasets/bbh.py (PROTOCOLS_MORE B1)",
    shots=3, data_files=DATA_FILES, load=partial(load, header=OC_HEADER),
    build=partial(build, stops=OC_STOPS), score=score_opencompass,
    aggregation=AGGREGATION,
    params={"header": OC_HEADER, "query": QUERY, "stops": OC_STOPS,
            "max_new_tokens": MAX_NEW_TOKENS, "decoding": "greedy", "mc_tasks": MC_TASKS},
    metric_note="greedy; per task under task:*",
))

register(Task(
    name="bbh:opencompass-2023",
    description="BIG-Bench Hard 3-shot CoT as OpenCompass reproduced Qwen-7B in 2023 "
                "(bbh_gen_5bf00b: 'A: ' query, no stop); mean of the 27 task accuracies",
    provenance="OpenCompass@2c915218 configs/datasets/bbh/bbh_gen_5bf00b.py, "
               "opencompass/datasets/bbh.py (PROTOCOLS_MORE §E)",
    shots=3, data_files=DATA_FILES, load=partial(load, header=OC_HEADER, query=OC2023_QUERY),
    build=partial(build, stops=END_MARKERS, keep=OC2023_CONTEXT_TOKENS),
    score=partial(score_opencompass, stops=END_MARKERS), aggregation=AGGREGATION,
    params={"header": OC_HEADER, "query": OC2023_QUERY, "stops": END_MARKERS,
            "max_new_tokens": MAX_NEW_TOKENS, "max_context_tokens": OC2023_CONTEXT_TOKENS,
            "decoding": "greedy", "mc_tasks": MC_TASKS},
    metric_note="greedy; per task under task:*",
))

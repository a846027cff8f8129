"""race/winogrande/hellaswag/gpqa:opencompass-chat (C7-C9, C15, A2): prompts rendered with
Qwen1.5-Chat's template on real rows, first_option scoring, tiny-model runs, GPQA's privacy."""

from __future__ import annotations

import json

import pytest
from chat_helpers import docs_by_id, qwen15_renderer, tiny_runs

from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.task import ScoreInput
from evaluate.tasks import gpqa

NAMES = ("race:opencompass-chat", "race-middle:opencompass-chat", "winogrande:opencompass-chat",
         "hellaswag:opencompass-chat", "gpqa:opencompass-chat")
SYSTEM = "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
END = "<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def docs(data_dir):
    return docs_by_id(NAMES, data_dir)


@pytest.fixture(scope="module")
def renderer(tmp_path_factory):
    return qwen15_renderer(tmp_path_factory.mktemp("template"))


def _rendered(renderer, name, doc):
    (request,) = get_task(name).build(doc)
    assert request.context == "" and request.greedy and request.repetition_penalty is None
    assert request.max_new_tokens == 1024 and request.stop == ("<|im_end|>", "<|endoftext|>")
    return renderer.render(request).context


def test_counts(docs):
    assert [len(docs[n]) for n in NAMES] == [3498, 1436, 1267, 10042, 198]


def test_race_one_user_turn(docs, renderer, data_dir):
    article = json.loads((data_dir / "race/RACE/test/middle/1.txt").read_text("utf-8"))
    doc = docs["race-middle:opencompass-chat"]["middle1/0"]
    assert article["questions"][0] == "A discipline leader is supposed to  _  ."
    assert doc.target == "C"
    assert _rendered(renderer, "race-middle:opencompass-chat", doc) == (
        SYSTEM + "<|im_start|>user\nRead the article, and answer the question by replying A, B, "
        "C or D.\n\nArticle:\n" + article["article"] + "\n\nQ: A discipline leader is supposed "
        "to  _  .\n\nA. take care of the whole group\nB. make sure that everybody finishes "
        "homework\nC. make sure that nobody chats in class\nD. collect all the homework and hand "
        "it in to teachers\n" + END)
    assert set(docs["race:opencompass-chat"]) == set(
        d.id for d in get_task("race:opencompass").load(DataDir(data_dir)))


WINO_SHOTS = [  # train_xs rows 0, 2, 4, 6, 8 (sentence, option1, option2, letter)
    ("Ian volunteered to eat Dennis's menudo after already having a bowl because _ despised "
     "eating intestine.", "Ian", "Dennis", "B"),
    ("He never comes to my home, but I always go to his house because the _ is smaller.",
     "home", "house", "A"),
    ("Kyle doesn't wear leg warmers to bed, while Logan almost always does. _ is more likely to "
     "live in a colder climate.", "Kyle", "Logan", "B"),
    ("The GPS and map helped me navigate home.  I got lost when the _ got turned upside down.",
     "GPS", "map", "B"),
    ("Emily looked up and saw Patricia racing by overhead, as _ was on the ramp .", "Emily",
     "Patricia", "B"),
]


def test_winogrande_five_shot_turns(docs, renderer):
    doc = docs["winogrande:opencompass-chat"]["0"]
    shots = "".join(f"<|im_start|>user\nQuestion: {s}\nA. {a}\nB. {b}\nAnswer:\n<|im_end|>\n"
                    f"<|im_start|>assistant\n{x}<|im_end|>\n" for s, a, b, x in WINO_SHOTS)
    assert _rendered(renderer, "winogrande:opencompass-chat", doc) == (
        SYSTEM + shots + "<|im_start|>user\nQuestion: Sarah was a much better surgeon than Maria "
        "so _ always got the easier cases.\nA. Sarah\nB. Maria\nAnswer:\n" + END)
    assert doc.target == "B"


def test_hellaswag_ten_shot_turns(docs, renderer, data_dir):
    def block(row):
        a, b, c, d = row["choices"]
        return (f"{row['query'].split(': ', 1)[-1]}\nA) {a}\nB) {b}\nC) {c}\nD) {d}\n"
                "What is the right option?")

    lines = (data_dir / "hellaswag/hellaswag_train_sampled25.jsonl").read_text().splitlines()
    train = [json.loads(line) for line in lines[:10]]
    shots = "".join(f"<|im_start|>user\n{block(r)}\n<|im_end|>\n<|im_start|>assistant\n"
                    f"{'ABCD'[r['gold']]}\n<|im_end|>\n" for r in train)
    instruction = ("Continue the following text without adding any additional information or "
                   "formatting:\n\n")
    doc = docs["hellaswag:opencompass-chat"]["0"]
    text = _rendered(renderer, "hellaswag:opencompass-chat", doc)
    assert text == (SYSTEM + shots.replace("<|im_start|>user\n", "<|im_start|>user\n"
                                           + instruction, 1)
                    + "<|im_start|>user\nA man is sitting on a roof. He"
                    "\nA) is using wrap to wrap a pair of skis.\nB) is ripping level tiles "
                    "off.\nC) is holding a rubik's cube.\nD) starts pulling up roofing on a "
                    "roof.\nWhat is the right option?\n" + END)
    assert text.startswith(SYSTEM + "<|im_start|>user\nContinue the following text without "
                           "adding any additional information or formatting:\n\nA woman is "
                           "kneeling down talking the the camera.")
    assert "What is the right option?\n<|im_end|>\n<|im_start|>assistant\nC\n<|im_end|>\n" in text
    assert doc.target == "D"


def test_gpqa_turn_and_option_order(docs, renderer, data_dir):
    raw = gpqa.read_rows(DataDir(data_dir))
    first = raw[1]  # data row 1: pattern "BCDA", so the correct text (column 8) is D
    doc = docs["gpqa:opencompass-chat"]["0"]
    assert doc.target == "D"
    assert [d.target for d in list(docs["gpqa:opencompass-chat"].values())[:4]] == list("DCBA")
    assert _rendered(renderer, "gpqa:opencompass-chat", doc) == (
        SYSTEM + "<|im_start|>user\nWhat is the correct answer to this question: " + first[7]
        + "\nChoices:\n(A)" + first[9] + "\n(B)" + first[10] + "\n(C)" + first[11] + "\n(D)"
        + first[8] + '\nFormat your response as follows: "The correct answer is (insert answer '
        'here)"\n' + END)


def _reply(text: str) -> list[dict]:
    return [{"text": text, "num_tokens": 1, "context_tokens": 1, "finish": "stop"}]


@pytest.mark.parametrize(("name", "text", "target", "extracted"), [
    ("race:opencompass-chat", "C", "C", "C"),
    ("race:opencompass-chat", "The answer is B.<|im_end|>A", "B", "B"),
    ("race:opencompass-chat", "I think B or A", "B", "A"),  # end-anchored patterns come first
    ("race:opencompass-chat", "", "A", ""),
    ("hellaswag:opencompass-chat", "D\n", "D", "D"),
    ("winogrande:opencompass-chat", "B", "B", "B"),
    ("winogrande:opencompass-chat", "The answer is C", "A", ""),  # C is not an option
    ("winogrande:opencompass-chat", "Answer: A. Sarah", "A", "A"),
    ("gpqa:opencompass-chat", "The correct answer is (C) 4.2 eV", "C", "C"),
])
def test_first_option_scoring(name, text, target, extracted):
    result = get_task(name).score(ScoreInput(id="0", target=target), _reply(text))
    assert result.extracted == extracted and result.score == float(extracted == target)


def test_gpqa_keeps_no_reply_in_samples():
    result = get_task("gpqa:opencompass-chat").score(
        ScoreInput(id="0", target="C"), _reply("(C) because ..."))
    assert "reply" not in result.extra and result.extra["reply_chars"] == 15


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path, docs):
    runs = tiny_runs(NAMES, tiny_model, qwen2_tokenizer, data_dir, tmp_path, 5)
    for name, run_dir, samples in runs:
        assert all(s["extracted"] in ("", "A", "B", "C", "D") for s in samples)
        if name != "gpqa:opencompass-chat":
            assert all(s["requests"][0]["context"].endswith("\n" + END) for s in samples)
            continue
        for record in ("plan.jsonl", "samples.jsonl"):  # GPQA: no question text in records
            text = (run_dir / record).read_text(encoding="utf-8")
            for row in map(json.loads, text.splitlines()):
                question = docs[name][row["id"]].data["turns"][0][45:85]
                assert question and question not in text
                assert row["requests"][0]["context"].startswith("sha256:")
        assert all(s["prompt"] is None for s in samples)

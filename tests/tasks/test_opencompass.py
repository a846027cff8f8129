"""OpenCompass's rendering rules (evaluate/tasks/opencompass.py) on small hand-written templates,
and the OpenCompass base tasks' prompts on the quirks they must keep."""

from __future__ import annotations

import pytest

from evaluate.data import DataDir
from evaluate.errors import MalformedDataError
from evaluate.registry import get_task
from evaluate.tasks import opencompass as oc
from evaluate.tasks.opencompass import Turn


def test_fill_replaces_fields_one_after_another():
    row = {"question": "Is $\\bar{A}$ {x}?", "A": "yes", "B": 2}
    # {A} spelt by the question is replaced (A is filled after question); unknown {x} stays
    assert oc.fill("{question} A. {A} B. {B}", row) == "Is $\\baryes$ {x}? A. yes B. 2"
    # a value spelling a later field is filled too; one spelling an earlier field is not
    assert oc.fill("{A}|{B}", {"A": "{B}", "B": "b"}) == "b|b"
    assert oc.fill("{A}|{B}", {"A": "a", "B": "{A}"}) == "a|{A}"


def test_render_joins_items_with_newlines():
    assert oc.render([Turn("HUMAN", "Q"), Turn("BOT", "A"), "x"]) == "Q\nA\nx"
    assert oc.render([Turn("HUMAN", "Q"), "", Turn("BOT", "A")]) == "Q\nA"  # empty item skipped
    assert oc.render(["", "a", "", "b"]) == "\na\nb"  # an empty first item still sets the "\n"
    assert oc.render([Turn("HUMAN", "Q"), Turn("BOT", "")]) == "Q"


def test_label_keyed_string_template_shots():
    ice = {x: f"{{q}}\nAnswer: {x}\n" for x in "AB"}
    shots = [{"q": "1+1", "t": "A"}, {"q": "2+2", "t": "B"}]
    text = oc.string_ice(ice, shots, "t")
    assert text == "1+1\nAnswer: A\n\n2+2\nAnswer: B\n\n"  # separator "\n", end token "\n"
    prompt = oc.string_prompt("Hint\n</E>{q}\nAnswer: B", text, {"q": "3+3", "t": "A"})
    assert prompt == "Hint\n1+1\nAnswer: A\n\n2+2\nAnswer: B\n\n3+3\nAnswer: B"
    assert oc.string_ice("{q}.", shots, "t", separator="|", eos="") == "1+1.|2+2."


def test_shots_are_filled_again_with_the_question_row():
    ice = oc.string_ice("{q} {A}\n", [{"q": "shot {B}", "A": "a1"}], "q")
    # the shot's own row has no B, so its {B} survives until the question's row fills it
    assert oc.string_prompt("</E>{q}", ice, {"q": "query", "B": "b2"}) == "shot b2 a1\n\nquery"


def test_label_keyed_rounds_keep_separators_as_items():
    rounds = {x: [Turn("HUMAN", "{q}\nAns: "), Turn("BOT", x)] for x in "AB"}
    shots = [{"q": "s1", "ans": "A"}, {"q": "s2", "ans": "B"}]
    ice = oc.round_ice(rounds, shots, "ans")
    assert ice == [Turn("HUMAN", "s1\nAns: "), Turn("BOT", "A"), "\n",
                   Turn("HUMAN", "s2\nAns: "), Turn("BOT", "B"), "\n", "\n"]
    prompt = oc.round_prompt([oc.ICE_TOKEN, *rounds["B"]], ice, {"q": "t", "ans": "A"})
    assert prompt == "s1\nAns: \nA\n\n\ns2\nAns: \nB\n\n\n\n\nt\nAns: \nB"


def test_plain_round_template_shots_have_no_separators():
    ice = oc.meta_ice([Turn("HUMAN", "{q}"), Turn("BOT", "{a}")], [{"q": "1", "a": "2"},
                                                                   {"q": "3", "a": "4"}])
    assert oc.round_prompt(["Begin", oc.ICE_TOKEN, Turn("HUMAN", "{q}")], ice,
                           {"q": "5", "a": "6"}) == "Begin\n1\n2\n3\n4\n5"


def test_ice_token_inside_a_string_item_splits_it():
    ice = [Turn("HUMAN", "s"), "\n"]
    assert oc.round_prompt(["pre</E>post"], ice, {}) == "pre\ns\n\n\npost"


def test_generation_mode_empties_the_output_field():
    row = oc.gen_row({"question": "q?", "answer": "42", "x": "y"}, "answer")
    assert list(row) == ["question", "answer", "x"] and row["answer"] == ""
    turns = [Turn("HUMAN", "Q: {question}"), Turn("BOT", "{answer}")]
    assert oc.render(oc.fill_items(turns, row)) == "Q: q?"


def test_shared_context():
    assert oc.shared_context(["ctx A", "ctx B"], [" A", " B"]) == "ctx"
    with pytest.raises(MalformedDataError):
        oc.shared_context(["ctx A", "other B"], [" A", " B"])
    with pytest.raises(MalformedDataError):
        oc.shared_context(["ctx A", "ctx B"], [" A", " C"])


def test_read_csv_reads_crlf_in_a_quoted_field_as_lf(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b'"a\r\nb",c\r\n"d",e\r\n')
    assert oc.read_csv(path) == [["a\nb", "c"], ["d", "e"]]


def test_base_output_drops_special_tokens_and_keeps_the_rest():
    assert oc.base_output("7<|im_end|>9\nQuestion: 1", ("Question",)) == "79\n"
    assert oc.base_output("x<|endoftext|>", ()) == "x"


# ---- the tasks' quirks, on the real files --------------------------------------------------------
@pytest.fixture(scope="module")
def ceval_docs(data_dir):
    return {d.id: d for d in get_task("ceval:opencompass").load(DataDir(data_dir))}


def test_ceval_latex_groups_spelling_fields_are_replaced(ceval_docs, data_dir):
    """advanced_mathematics/13 (val): the question's ``\\oint_{C}`` becomes ``\\oint_`` + the
    text of option C, as OpenCompass rendered it."""
    rows = oc.read_csv(data_dir / "ceval/val/advanced_mathematics_val.csv")
    header, raw = rows[0], next(r for r in rows[1:] if r[0] == "13")
    question, choice_c = raw[header.index("question")], raw[header.index("C")]
    assert "{C}" in question
    prompt = ceval_docs["advanced_mathematics/13"].data["prompt"]
    assert question.split("{C}")[0] + choice_c in prompt


def test_cmmlu_opencompass_prompt(data_dir):
    task = get_task("cmmlu:opencompass")
    docs = task.load(DataDir(data_dir))
    assert len(docs) == 11582 and len({d.meta["subject"] for d in docs}) == 67
    doc = next(d for d in docs if d.id == "agronomy/0")
    assert [r.text for r in task.build(doc)] == [doc.data["prompt"] + x
                                                  for x in (" A", " B", " C", " D")]
    letters, context = get_task("cmmlu:opencompass-unbatched").build(doc)
    assert letters.candidates == (" A", " B", " C", " D")
    prompt = letters.context
    assert prompt.startswith("以下是关于农学的单项选择题，请直接给出正确答案的选项。\n题目：")
    assert prompt.count("\n答案是: ") == 5 and prompt.count("\n\n题目：") == 5
    assert prompt.endswith("\nA. 农业生产工具\nB. 土地\nC. 劳动力\nD. 资金\n答案是:")
    assert context.text == prompt and doc.target == "B"


def test_cmmlu_opencompass_end_to_end(data_dir, tiny_model, qwen2_tokenizer, tmp_path):
    from evaluate.backends.hf import HFBackend
    from evaluate.runner import RunOptions, run_task

    task = get_task("cmmlu:opencompass")
    results = [run_task(task, HFBackend(tiny_model, qwen2_tokenizer, batch_size=size,
                                        identity={"model": "tiny"}),
                        DataDir(data_dir), tmp_path / str(size), "tiny",
                        RunOptions(limit=3, progress=False))
               for size in (1, 4)]
    assert results[0]["samples"] == results[1]["samples"] == 3
    assert (results[0]["metrics"]["accuracy"]["value"]
            == results[1]["metrics"]["accuracy"]["value"])

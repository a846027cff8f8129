"""winogrande:opencompass ("LL" as OpenCompass computes it) and winogrande:opencompass-fixed."""

import json

import pytest
import torch
import torch.nn.functional as F

from evaluate.backends.hf import HFBackend
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.requests import SequenceNLLRequest, request_to_dict
from evaluate.runner import RunOptions, run_task
from evaluate.task import ScoreInput
from evaluate.tasks import winogrande

SHOTS = (
    "Ian volunteered to eat Dennis's menudo after already having a bowl because Dennis despised "
    "eating intestine.\n"
    "He never comes to my home, but I always go to his house because the home is smaller.\n"
    "Kyle doesn't wear leg warmers to bed, while Logan almost always does. Logan is more likely "
    "to live in a colder climate.\n"
    "The GPS and map helped me navigate home.  I got lost when the map got turned upside down.\n"
    "Emily looked up and saw Patricia racing by overhead, as Patricia was on the ramp .\n")


@pytest.fixture(scope="module")
def docs(data_dir):
    return get_task("winogrande:opencompass").load(DataDir(data_dir))


def test_counts_and_prompts(docs):
    assert len(docs) == 1267
    first = docs[0]
    assert first.target == "B"
    assert first.data["prompts"] == [
        SHOTS + "Sarah was a much better surgeon than Maria so Sarah always got the easier cases.",
        SHOTS + "Sarah was a much better surgeon than Maria so Maria always got the easier cases."]
    assert first.data["cont"] == " always got the easier cases."
    assert first.data["contexts"][1] == (
        SHOTS + "Sarah was a much better surgeon than Maria so Maria")


def test_ll_rule_on_crafted_responses():
    # N = 5 tokens (4 NLLs), cont of L = 2 tokens: mean of the NLLs of tokens 2..4 (0-based)
    a = {"nll": 10.0, "num_tokens": 4, "nlls": [9.0, 1.0, 1.0, 1.0]}
    b = {"nll": 6.0, "num_tokens": 4, "nlls": [0.0, 2.0, 2.0, 2.0]}
    cont = {"nll": 1.0, "num_tokens": 1}
    assert winogrande.ll_values([a, b, cont]) == [-1.0, -2.0]
    scored = get_task("winogrande:opencompass").score(ScoreInput(id="0", target="A"), [a, b, cont])
    assert scored.extracted == "A" and scored.score == 1.0  # the whole-prompt mean would say B
    fixed = get_task("winogrande:opencompass-fixed")
    assert fixed.score(ScoreInput(id="0", target="A"),
                       [{"logprobs": [-3.0]}, {"logprobs": [-1.0]}]).extracted == "B"


def test_per_token_nll_matches_a_direct_computation(tiny_model, qwen2_tokenizer, docs):
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    requests = winogrande.build(docs[0])
    responses = [r for _, r in sorted(backend.run(requests, False, "t"))]
    cont_len = len(qwen2_tokenizer(docs[0].data["cont"])["input_ids"])
    assert responses[2]["num_tokens"] + 1 == cont_len
    expected = []
    for prompt in docs[0].data["prompts"]:
        ids = torch.tensor([qwen2_tokenizer(prompt)["input_ids"]])
        with torch.no_grad():
            logits = tiny_model(input_ids=ids).logits[0, :-1].float()
        loss = F.cross_entropy(logits, ids[0, 1:], reduction="none")
        expected.append(-float(loss[cont_len - 1:].sum()) / (ids.shape[1] - cont_len))
    assert winogrande.ll_values(responses) == pytest.approx(expected, rel=1e-4)
    # the new field leaves the dict (and hash) of a plain request as it was
    assert request_to_dict(SequenceNLLRequest(text="x")) == {"text": "x", "token_ids": None,
                                                              "kind": "sequence_nll"}
    assert request_to_dict(SequenceNLLRequest(text="x", per_token=True))["per_token"] is True


def test_end_to_end_on_tiny_model(tiny_model, qwen2_tokenizer, data_dir, tmp_path):
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    for name in ("winogrande:opencompass", "winogrande:opencompass-fixed"):
        results = run_task(get_task(name), backend, DataDir(data_dir), tmp_path, "tiny",
                           RunOptions(limit=2, progress=False))
        assert results["complete"] and results["samples"] == 2
        samples = [json.loads(x) for x in
                   open(f"{results['run_dir']}/samples.jsonl", encoding="utf-8")]
        assert all(s["extracted"] in ("A", "B") for s in samples)

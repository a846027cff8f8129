"""Generation in the Transformers backend: continuous batching against a batch-size-1 reference.

The reference decodes one prompt alone, recomputing the full sequence at every step (no cache,
no padding), and ends a row exactly as the request says: at an end-of-sequence token, when the
stop strings can no longer change the cut text, or at the token limit, checked after every
token. The backend decodes more requests than it has rows, so rows finish at different times
and waiting requests take their places mid-flight.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from evaluate.backends.hf import HFBackend
from evaluate.requests import GenerateRequest, LoglikelihoodRequest, stop_is_final

PROMPTS = [
    "def add(a, b):\n",
    "x",
    "The following are multiple choice questions (with answers) about anatomy.\n\nQuestion: What?",
    "问题：中国的首都是哪里？\n答案：",
    "A much longer prompt " * 12 + "that ends here:",
    "import numpy as np\n\n",
    "Once upon a time",
]
HEADER = "The following are questions about arithmetic, each with its answer.\n\n" * 3
SHARED = [HEADER + f"Question: {q}\nAnswer:" for q in ("1 + 1?", "What is two times three?",
                                                      "7?", "Ten minus four equals what?")]


def reference(model, tokenizer, request: GenerateRequest, eos_ids) -> tuple[str, str, int]:
    """(text, finish, tokens) of ``request`` decoded alone, greedily, without a cache."""
    ids = tokenizer(request.context, add_special_tokens=False)["input_ids"]
    out: list[int] = []
    while len(out) < request.max_new_tokens:
        with torch.inference_mode():
            token = int(model(input_ids=torch.tensor([ids + out])).logits[0, -1].argmax())
        out.append(token)
        if token in eos_ids:
            return tokenizer.decode(out), "eos", len(out)
        if request.stop and stop_is_final(tokenizer.decode(out), request.stop):
            return tokenizer.decode(out), "stop", len(out)
    return tokenizer.decode(out), "length", len(out)


def requests_with_stops(model, tokenizer) -> list[GenerateRequest]:
    """Mixed lengths and limits; stop strings the random model does produce (its commonest
    characters), so some rows end by stop and others by length."""
    probe = [reference(model, tokenizer, GenerateRequest(p, max_new_tokens=16), set())[0]
             for p in PROMPTS[:3]]
    text = "".join(probe)
    stops = tuple(sorted(set(text), key=text.count, reverse=True)[:2])
    return [GenerateRequest(p, stop=stops if i % 2 else (), max_new_tokens=4 + 3 * i)
            for i, p in enumerate(PROMPTS + SHARED)]


@pytest.mark.parametrize(("batch_size", "check_steps"), [(2, 1), (3, 4)])
def test_continuous_batching_equals_single_sequences(tiny_model, qwen2_tokenizer, batch_size,
                                                     check_steps):
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=batch_size)
    backend.stop_check_steps = check_steps  # several steps between looks from the host
    # An end-of-sequence token the model emits: the 3rd token of one prompt's greedy output.
    probe = reference(tiny_model, qwen2_tokenizer, GenerateRequest(PROMPTS[0], max_new_tokens=3),
                      set())[0]
    backend.eos_ids = backend.eos_ids | {qwen2_tokenizer(probe)["input_ids"][-1]}
    requests = requests_with_stops(tiny_model, qwen2_tokenizer)
    got = dict(backend.run(requests, progress=False))
    finishes = set()
    for i, request in enumerate(requests):
        text, finish, count = reference(tiny_model, qwen2_tokenizer, request, backend.eos_ids)
        assert (got[i]["text"], got[i]["finish"], got[i]["num_tokens"]) == (text, finish, count)
        finishes.add(finish)
    assert finishes == {"eos", "stop", "length"}
    assert backend._prefix is not None  # the shared header's keys/values were reused


def test_finished_rows_are_replaced_by_waiting_requests(tiny_model, qwen2_tokenizer):
    """With 2 rows and 5 requests, every decoding step runs 2 rows until the queue is empty:
    a short request's place goes to the next one at once."""
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    backend.eos_ids = set()
    limits = [3, 20, 5, 6, 4]
    requests = [GenerateRequest(f"Item number {i}:", max_new_tokens=n)
                for i, n in enumerate(limits)]
    rows: list[int] = []
    hook = backend.model.base_model.register_forward_pre_hook(
        lambda _m, _a, kw: rows.append(kw["input_ids"].shape[0])
        if kw["input_ids"].shape[1] == 1 else None, with_kwargs=True)
    try:
        got = dict(backend.run(requests, progress=False))
    finally:
        hook.remove()
    assert [got[i]["num_tokens"] for i in range(5)] == limits
    # Decoding steps: each request's tokens after its first (which its prompt's pass gives).
    assert sum(rows) == sum(n - 1 for n in limits)
    # The prompts are equally long, so the 20-token request starts first; the four others
    # (2 + 4 + 5 + 3 steps) follow one another in the second row meanwhile: the whole run takes
    # the longest request's 19 steps, two rows each until the queue is empty.
    assert len(rows) == max(limits) - 1
    assert rows == [2] * 14 + [1] * 5


def test_seeded_sampling_is_reproducible_in_any_company(tiny_model, qwen2_tokenizer):
    """A sampling request gives the same text alone, among greedy rows, in another order, and
    with several steps between host looks."""
    sampled = [GenerateRequest(p, max_new_tokens=9, temperature=0.8, top_p=0.9, seed=s)
               for p in PROMPTS[:3] for s in (3, 4)]
    greedy = [GenerateRequest(p, max_new_tokens=5 + i) for i, p in enumerate(PROMPTS)]
    alone = [dict(HFBackend(tiny_model, qwen2_tokenizer, batch_size=1).run([r], False))[0]["text"]
             for r in sampled]
    mixed = HFBackend(tiny_model, qwen2_tokenizer, batch_size=3)
    mixed.stop_check_steps = 3
    mix = greedy[:2] + sampled[::-1] + greedy[2:]
    got = dict(mixed.run(mix, progress=False))
    for k in range(len(sampled)):
        assert got[2 + len(sampled) - 1 - k]["text"] == alone[k]
    assert len(set(alone)) > 3  # seeds and prompts do change the draws
    for i, request in enumerate(greedy):
        index = i if i < 2 else i + len(sampled)
        assert got[index]["text"] == reference(tiny_model, qwen2_tokenizer, request,
                                               mixed.eos_ids)[0]


def test_out_of_memory_in_generation_halves_rows_and_loses_nothing(tiny_model, qwen2_tokenizer):
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size="auto")
    real = backend._last_logits
    widths = []

    def limited(ids, *args):
        widths.append(ids.shape[0])
        if ids.shape[0] > 2:
            raise torch.OutOfMemoryError("CPU out of memory (simulated)")
        return real(ids, *args)

    backend._last_logits = limited
    requests = [GenerateRequest(p, max_new_tokens=6) for p in PROMPTS]
    got = dict(backend.run(requests, progress=False))
    assert sorted(got) == list(range(len(PROMPTS)))
    assert widths[0] == 7 and max(widths[1:]) <= 4 and backend._auto_sizes["generate"] == 2
    for i, request in enumerate(requests):
        assert got[i]["text"] == reference(tiny_model, qwen2_tokenizer, request,
                                           backend.eos_ids)[0]


def test_no_deprecation_warnings_from_the_model_calls(tiny_model, qwen2_tokenizer):
    """Generation, prefix reuse and scoring use transformers' current cache API: a run emits no
    FutureWarning or DeprecationWarning (today's transformers warns on ``past_key_values``)."""
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    requests = [GenerateRequest(p, stop=("\n",), max_new_tokens=6) for p in PROMPTS[:3] + SHARED]
    requests += [LoglikelihoodRequest(p, (" A", " B"), next_token=True) for p in SHARED]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = dict(backend.run(requests, progress=False))
    assert len(got) == len(requests)
    bad = [w for w in caught if issubclass(w.category, FutureWarning | DeprecationWarning)]
    assert not bad, [str(w.message) for w in bad]

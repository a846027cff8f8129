"""Request hashing and the stop-string rules of generation."""

from __future__ import annotations

import random

import pytest

from evaluate.requests import (
    GenerateRequest,
    LoglikelihoodRequest,
    SequenceNLLRequest,
    cut_at_stops,
    request_from_dict,
    request_hash,
    request_to_dict,
    stop_is_final,
)


def test_round_trip_and_hash_stability():
    requests = [
        LoglikelihoodRequest("ctx", (" A", " B"), next_token=True, max_context_tokens=2047),
        GenerateRequest("def f():\n", stop=("\n\n",), max_new_tokens=5),
        SequenceNLLRequest(token_ids=(1, 2, 3)),
        SequenceNLLRequest(text="hello"),
    ]
    for request in requests:
        again = request_from_dict(request_to_dict(request))
        assert again == request
        assert request_hash(again) == request_hash(request)
    assert len({request_hash(r) for r in requests}) == len(requests)
    # every field counts
    assert request_hash(GenerateRequest("x", max_new_tokens=5)) != request_hash(
        GenerateRequest("x", max_new_tokens=6))


def test_sequence_nll_needs_exactly_one_input():
    with pytest.raises(ValueError):
        SequenceNLLRequest()
    with pytest.raises(ValueError):
        SequenceNLLRequest(text="a", token_ids=(1,))


def test_cut_at_stops_applies_each_stop_in_order():
    stops = ("<|endoftext|>", "\n\n\n", "\n\n", "def ")
    assert cut_at_stops("    return 1\n\n\ndef g():", stops) == "    return 1"
    assert cut_at_stops("    x = 1\n\n    return x\n", stops) == "    x = 1"
    assert cut_at_stops("    return 1<|endoftext|>\n\n", stops) == "    return 1"
    assert cut_at_stops("    return a  # def b", stops) == "    return a  # "  # "def " inside
    assert cut_at_stops("no stop here", stops) == "no stop here"
    # order matters: a later occurrence of an earlier stop removes an earlier-found later stop
    assert cut_at_stops("aaaaaaababbaabb", ("baa", "abb")) == "aaaaaaabab"


def test_stop_is_final_never_changes_the_cut():
    """Stopping when stop_is_final says so keeps exactly what the full-length cut keeps."""
    rng = random.Random(0)
    for _ in range(30000):
        alphabet = "ab\n"[: rng.randint(2, 3)]
        stops = tuple(
            "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
            for _ in range(rng.randint(1, 3))
        )
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        full = cut_at_stops(text, stops)
        for n in range(len(text) + 1):
            if stop_is_final(text[:n], stops):
                assert cut_at_stops(text[:n], stops) == full, (text, n, stops)
                break


def test_stop_is_final_needs_twice_the_longest_stop():
    # With a margin of only len(stop) this prefix would look final, but the full text differs.
    prefix, full, stops = "aaaaaaababb", "aaaaaaababbaabb", ("baa", "abb")
    assert cut_at_stops(prefix, stops) != cut_at_stops(full, stops)
    assert not stop_is_final(prefix, stops)
    assert not stop_is_final("anything", ())
    assert stop_is_final("    return 1\n\nxxxxxxxxxxxxxxxx", ("\n\n",))


def test_sampling_fields_keep_greedy_hashes_and_round_trip():
    greedy = GenerateRequest("x", stop=("\n",), max_new_tokens=5)
    assert set(request_to_dict(greedy)) == {"context", "stop", "max_new_tokens",
                                            "max_context_tokens", "kind"}
    sampled = [GenerateRequest("x", stop=("\n",), max_new_tokens=5, temperature=0.8, top_p=0.95,
                               seed=s) for s in range(3)]
    hashes = {request_hash(r) for r in sampled} | {request_hash(greedy)}
    assert len(hashes) == 4
    for request in sampled:
        assert request_from_dict(request_to_dict(request)) == request
    with pytest.raises(ValueError):
        GenerateRequest("x", temperature=-1.0)
    with pytest.raises(ValueError):
        GenerateRequest("x", top_p=0.0)

"""Packed shared-prefix log-likelihoods (evaluate/backends/packed.py) against the padded path.

On the CPU the packed path runs the reference varlen kernel (the FlashAttention op is CUDA-only);
everything around the kernel -- packing, position ids, the prefix/suffix split merged through
log-sum-exps, positions picked for the LM head, token-budget batches -- is what runs on a GPU.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from evaluate.backends.hf import HFBackend
from evaluate.backends.packed import Segments, merge, reference_attend, select_kernel
from evaluate.errors import ModelLoadError
from evaluate.requests import GenerateRequest, LoglikelihoodRequest

SHOTS = {
    "anatomy": "The following are multiple choice questions about anatomy.\n\n"
    + "Question: Which bone is longest?\nA. femur\nB. ulna\nC. rib\nD. skull\nAnswer: A\n\n" * 3,
    "law": "The following are multiple choice questions about law.\n\n"
    + "Question: What is a tort?\nA. a cake\nB. a wrong\nC. a court\nD. a fee\nAnswer: B\n\n" * 3,
}
SHARED = [SHOTS[s] + f"Question: {q}\nA. x\nB. y\nC. z\nD. w\nAnswer:"
          for s in SHOTS for q in ("Why?", "How many legs does a spider have?", "Which one")]
ALONE = ["x", "def add(a, b):\n", "问题：中国的首都是哪里？\n答案："]


def _sdpa(q, k, v, mask):
    """(T, H, D) queries against (S, Hkv, D) keys through PyTorch's SDPA with a boolean mask."""
    groups = q.shape[1] // k.shape[1]
    out = F.scaled_dot_product_attention(
        q.transpose(0, 1)[None], k.transpose(0, 1).repeat_interleave(groups, 0)[None],
        v.transpose(0, 1).repeat_interleave(groups, 0)[None], attn_mask=mask, scale=0.125)
    return out[0].transpose(0, 1)


def test_two_parts_merged_equal_attention_over_prefix_and_own_suffix():
    torch.manual_seed(0)
    prefix, lengths = 7, [3, 1, 5]
    total = sum(lengths)
    q = torch.randn(total, 4, 16)
    k, v = torch.randn(prefix + total, 2, 16), torch.randn(prefix + total, 2, 16)
    starts = [0, 3, 4, 9]
    own = Segments(starts, starts, causal=True, scale=0.125)
    out_own, lse_own = reference_attend(q, k[prefix:], v[prefix:], own)
    whole = Segments([0, total], [0, prefix], causal=False, scale=0.125)
    out_prefix, lse_prefix = reference_attend(q, k[:prefix], v[:prefix], whole)
    got = merge(out_prefix, lse_prefix, out_own, lse_own)
    # The same attention with one explicit mask: all of the prefix, own suffix causally.
    mask = torch.zeros(total, prefix + total, dtype=torch.bool)
    mask[:, :prefix] = True
    for a, b in zip(starts, starts[1:], strict=False):
        mask[a:b, prefix + a : prefix + b] = torch.ones(b - a, b - a).tril().bool()
    assert torch.allclose(got, _sdpa(q, k, v, mask), atol=1e-6)


def test_causal_segments_align_bottom_right_like_flash_attention():
    torch.manual_seed(1)
    q, k, v = torch.randn(2, 2, 8), torch.randn(5, 2, 8), torch.randn(5, 2, 8)
    out, _ = reference_attend(q, k, v, Segments([0, 2], [0, 5], causal=True, scale=0.125))
    mask = torch.ones(2, 5).tril(diagonal=3).bool()  # query 0 sees keys 0..3, query 1 all 5
    assert torch.allclose(out, _sdpa(q, k, v, mask), atol=1e-6)


def test_the_cpu_uses_the_reference_kernel():
    assert select_kernel(torch.device("cpu"), torch.float32)[0] == "reference"


@pytest.fixture(scope="module")
def backends(tiny_model, qwen2_tokenizer):
    packed = HFBackend(tiny_model, qwen2_tokenizer, batch_size="auto", packing="on")
    padded = HFBackend(tiny_model, qwen2_tokenizer, batch_size=3, packing="off")
    return packed, padded


def test_packing_is_reported_and_off_by_default_on_the_cpu(backends, tiny_model, qwen2_tokenizer):
    packed, padded = backends
    assert packed.identity()["packing"] == "reference"
    assert padded.identity()["packing"] == "off"
    assert HFBackend(tiny_model, qwen2_tokenizer).identity()["packing"] == "off"  # auto, CPU


@pytest.mark.parametrize("kind", ["next_token", "continuation"])
def test_packed_equals_padded_with_identical_choices(backends, kind):
    packed, padded = backends
    if kind == "next_token":
        requests = [LoglikelihoodRequest(p, (" A", " B", " C", " D"), next_token=True)
                    for p in SHARED + ALONE]
    else:
        requests = [LoglikelihoodRequest(p, (" A", " B. because", " C"), score_context=True)
                    for p in SHARED + ALONE]
    got, want = dict(packed.run(requests, progress=False)), dict(padded.run(requests,
                                                                           progress=False))
    for i in range(len(requests)):
        assert got[i]["logprobs"] == pytest.approx(want[i]["logprobs"], abs=1e-5)
        assert max(range(len(got[i]["logprobs"])), key=got[i]["logprobs"].__getitem__) == \
            max(range(len(want[i]["logprobs"])), key=want[i]["logprobs"].__getitem__)
        if kind == "continuation":
            assert got[i]["context_nll"] == pytest.approx(want[i]["context_nll"], abs=1e-4)


def test_packed_rows_follow_a_token_budget_and_halve_it_on_oom(tiny_model, qwen2_tokenizer,
                                                               monkeypatch):
    import evaluate.backends.hf as hf

    monkeypatch.setitem(hf.PACK_TOKENS, "cpu", 64)
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size="auto", packing="on")
    sizes: list[int] = []
    real = backend._rows

    def rows(seqs, prefix=()):
        sizes.append(sum(len(s) for s in seqs))
        if sizes[-1] > 40:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(seqs, prefix)

    backend._rows = rows
    requests = [LoglikelihoodRequest(p, (" yes", " no"), next_token=False) for p in ALONE * 6]
    got = dict(backend.run(requests, progress=False))
    assert sorted(got) == list(range(len(requests)))  # every request once
    assert max(sizes) <= 64 and any(s > 40 for s in sizes)  # the budget, then a failure
    assert backend._auto_sizes["loglikelihood:tokens"] <= 40


def test_a_learned_batch_size_stays_with_its_request_kind(tiny_model, qwen2_tokenizer):
    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size="auto")
    backend._auto_sizes["generate"] = 1  # as if generation had run out of memory at 2
    sizes: list[int] = []
    real = backend._loglikelihood_batch

    def spy(items, prefix=()):
        sizes.append(len(items))
        return real(items, prefix)

    backend._loglikelihood_batch = spy
    list(backend.run([LoglikelihoodRequest(p, (" A",), True) for p in ALONE * 4],
                     progress=False))
    assert max(sizes) == 8  # the CPU's starting size, not generation's 1
    assert [r["text"] for _, r in backend.run([GenerateRequest("x", max_new_tokens=2)],
                                              progress=False)]


def test_packing_on_refuses_a_model_it_cannot_pack(tiny_model, qwen2_tokenizer, monkeypatch):
    import evaluate.backends.hf as hf

    monkeypatch.setattr(hf, "supports_packing", lambda model: False)
    with pytest.raises(ModelLoadError, match="cannot be packed"):
        HFBackend(tiny_model, qwen2_tokenizer, packing="on")
    assert HFBackend(tiny_model, qwen2_tokenizer, packing="auto").packing is None

"""Shared fixtures: the real benchmark data folder, the real Qwen tokenizer, a tiny random Qwen2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evaluate.data import DataDir

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data folder: $EVALUATE_DATA_DIR, else ../shared/data beside the repo."""
    path = Path(os.environ.get("EVALUATE_DATA_DIR", SHARED / "data"))
    if not path.is_dir():
        pytest.skip(f"benchmark data not found at {path} (set EVALUATE_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def qwen2_tokenizer_dir() -> Path:
    """The real Qwen1.5/2/2.5 tokenizer files."""
    path = Path(os.environ.get("EVALUATE_TOKENIZER_DIR", SHARED / "tokenizers" / "qwen2"))
    if not (path / "tokenizer.json").is_file():
        pytest.skip(f"Qwen tokenizer not found at {path} (set EVALUATE_TOKENIZER_DIR)")
    return path


@pytest.fixture(scope="session")
def qwen2_tokenizer(qwen2_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen2_tokenizer_dir)


def make_tiny_qwen2(vocab_size: int, seed: int = 0):
    """A tiny random Qwen2ForCausalLM (2 layers, hidden 64), deterministic for ``seed``.

    ``initializer_range`` is large so that logits are well spread: greedy choices then do not sit
    on float ties, and batched-vs-single comparisons test the computation, not rounding luck.
    """
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        initializer_range=0.2, tie_word_embeddings=False, attn_implementation="sdpa",
        bos_token_id=151643, eos_token_id=151643, pad_token_id=151643,
    )
    return Qwen2ForCausalLM(config).eval()


@pytest.fixture(scope="session")
def tiny_model(qwen2_tokenizer):
    return make_tiny_qwen2(len(qwen2_tokenizer))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_model, qwen2_tokenizer) -> Path:
    """The tiny model saved as a Transformers folder, with the real Qwen2 tokenizer."""
    path = tmp_path_factory.mktemp("tiny-qwen2")
    tiny_model.save_pretrained(path)
    qwen2_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def vllm_model_dir(tmp_path_factory, qwen2_tokenizer) -> Path:
    """A small random Qwen2 saved with the real tokenizer, for the vLLM tests (head size 64:
    vLLM's CPU attention has no kernel for 16)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(qwen2_tokenizer), hidden_size=128, intermediate_size=256,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        max_position_embeddings=4096, initializer_range=0.2, tie_word_embeddings=True,
        bos_token_id=151643, eos_token_id=151643, pad_token_id=151643)
    path = tmp_path_factory.mktemp("vllm-qwen2")
    Qwen2ForCausalLM(config).eval().save_pretrained(path)
    qwen2_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests use their own request cache and assembled-model folder, never the user's."""
    cache = tmp_path_factory.mktemp("evaluate-cache")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # no hub look-ups from tests
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    previous = os.environ.get("EVALUATE_CACHE")
    os.environ["EVALUATE_CACHE"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("EVALUATE_CACHE", None)
    else:
        os.environ["EVALUATE_CACHE"] = previous


@pytest.fixture()
def toy_data(tmp_path) -> DataDir:
    folder = tmp_path / "data" / "toy"
    folder.mkdir(parents=True)
    rows = [{"q": f"What is {i} + {i}?", "answer": "ABCD"[i % 4], "group": f"g{i % 3}"}
            for i in range(12)]
    (folder / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return DataDir(tmp_path / "data")


# ---- CI: a suite that CI is meant to run must not skip quietly -------------------------------
# `.ci/run` sets EVALUATE_STRICT_SKIPS=1: every skip then fails, except those whose reason names a
# package that CI deliberately does not install (llama-cpp-python builds from source for ~25 min).
ALLOWED_CI_SKIPS = ("llama-cpp-python",)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("EVALUATE_STRICT_SKIPS") != "1" or not report.skipped:
        return
    if hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(
        report.longrepr)
    if not any(allowed in reason for allowed in ALLOWED_CI_SKIPS):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where this suite must run: {reason}"

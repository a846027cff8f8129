"""The chat path: conversations, templates, rendering at plan time, generation-config recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluate.chat import Conversation, Message, conversation
from evaluate.chat_templates import (
    ChatRenderer,
    ChatTemplateError,
    builtin,
    choose_template,
    piecewise_ids,
    whole_ids,
)
from evaluate.data import DataDir
from evaluate.requests import (
    GenerateRequest,
    LoglikelihoodRequest,
    request_from_dict,
    request_hash,
    request_to_dict,
)
from evaluate.runner import RunOptions, run_task
from evaluate.task import Doc, Scored, Task

CONV = conversation("What is 1+1?", system="Be brief.", shots=[("2+2?", "4")], prefill="The")


def test_conversation_round_trips_and_plain_hashes_do_not_change():
    request = GenerateRequest("", chat=CONV, stop=("\n",), max_new_tokens=5)
    data = request_to_dict(request)
    assert data["chat"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert request_from_dict(json.loads(json.dumps(data))) == request
    plain = GenerateRequest("ctx", stop=("\n",))
    assert set(request_to_dict(plain)) == {"context", "stop", "max_new_tokens",
                                           "max_context_tokens", "kind"}
    assert request_hash(plain) != request_hash(GenerateRequest("ctx", stop=("\n",), chat=CONV))
    assert "chat" not in request_to_dict(LoglikelihoodRequest("c", ("A",)))
    with pytest.raises(ValueError):
        Conversation((Message("user", "q"), Message("assistant", "a")))
    with pytest.raises(ValueError):
        Message("bot", "x")


def test_checkpoint_template_renders_chatml_with_prefill(qwen2_tokenizer):
    rendered = ChatRenderer(tokenizer=qwen2_tokenizer).render(
        GenerateRequest("", chat=CONV, stop=("\n\n",)))
    assert rendered.context == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"
        "<|im_start|>user\nWhat is 1+1?<|im_end|>\n<|im_start|>assistant\nThe")
    assert rendered.stop == ("\n\n", "<|im_end|>", "<|im_start|>")  # task's, then end-of-turn
    assert rendered.chat == CONV and rendered.context_ids is None


def test_builtin_chatml_and_qwen_layouts():
    chat = conversation("hi")
    assert builtin("chatml").render(chat) == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    assert builtin("qwen").render(chat) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    with pytest.raises(ChatTemplateError, match="unknown chat template"):
        builtin("llama")


def test_jinja_file_template_without_tokenizer(tmp_path):
    path = tmp_path / "t.jinja"
    path.write_text("{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
                    "{% if add_generation_prompt %}[assistant]{% endif %}")
    template = choose_template(str(path), None)
    assert template.name.startswith("file:t.jinja:")
    rendered = template.render(conversation("q", system="s", prefill="p"))
    assert rendered == "[system]s[user]q[assistant]p"


class _QwenTokenizer:
    """The original Qwen tokenizer's behaviour (tiktoken, qwen.tiktoken), as remote code has it."""

    im_start_id, im_end_id = 151644, 151645
    chat_template = None

    def __init__(self, path: Path) -> None:
        import base64

        import tiktoken

        ranks = {base64.b64decode(tok): int(rank) for tok, rank in
                 (line.split() for line in path.read_text().splitlines() if line)}
        specials = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
        pattern = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?"""
                   r"""[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
        self.tokenizer = tiktoken.Encoding("Qwen", pat_str=pattern, mergeable_ranks=ranks,
                                           special_tokens=specials)

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": self.tokenizer.encode(text, allowed_special="all")}


@pytest.fixture(scope="module")
def qwen_tokenizer(qwen2_tokenizer_dir):
    path = qwen2_tokenizer_dir.parent / "qwen" / "qwen.tiktoken"  # beside the Qwen2 tokenizer
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return _QwenTokenizer(path)


def test_qwen_piecewise_ids_recorded_only_where_whole_text_differs(qwen_tokenizer):
    renderer = ChatRenderer(tokenizer=qwen_tokenizer)
    assert renderer.template.name == "qwen"  # remote-code tokenizer without a template
    same = renderer.render(GenerateRequest("", chat=conversation("Hello world")))
    assert same.context_ids is None  # the common case: identical ids, the text is enough
    # A query starting with a newline: make_context encodes "\n" and "\nfoo" apart; the whole
    # text would merge "\n\n" into one token. A literal "<|im_end|>" stays text in make_context.
    for query in ("\nfoo", "a <|im_end|> b"):
        chat = conversation(query)
        request = renderer.render(GenerateRequest("", chat=chat))
        ids = piecewise_ids(renderer.template, chat, qwen_tokenizer)
        assert request.context_ids == tuple(ids)
        assert ids != whole_ids(request.context, qwen_tokenizer)
        assert qwen_tokenizer.tokenizer.decode(ids) == request.context
    assert ids[:1] == [151644] and ids.count(151645) == 2  # only the real turn ends are special


def test_no_template_is_one_clear_error():
    class Plain:
        chat_template = None

    with pytest.raises(ChatTemplateError, match="no chat template.*--chat-template"):
        ChatRenderer(tokenizer=Plain(), label="base-model").check()
    ChatRenderer(tokenizer=Plain(), override="chatml").check()


def _chat_task(max_new_tokens: int = 6, penalty: float | None = 1.0) -> Task:
    def load(data: DataDir) -> list[Doc]:
        return [Doc(id=str(i), target="", data=q) for i, q in enumerate(["1+1?", "2+3?", "Hi"])]

    def build(doc: Doc):
        return [GenerateRequest("", chat=conversation(doc.data, system="Answer.", shots=[
            ("0+0?", "0")]), stop=("\n\n",), max_new_tokens=max_new_tokens,
            repetition_penalty=penalty)]

    def score(doc: Doc, responses) -> Scored:
        return Scored(extracted=responses[0]["text"], score=0.0)

    return Task(name="toy_chat", description="", provenance="test", shots=1, data_files=(),
                load=load, build=build, score=score, chat=True)


def test_chat_run_end_to_end_records_prompt_and_generation_config(
        tiny_model, qwen2_tokenizer, tmp_path):
    from evaluate.backends.hf import HFBackend

    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
    sampling = {"do_sample": True, "temperature": 0.7, "top_k": 20, "repetition_penalty": 1.3}
    backend.chat_renderer = ChatRenderer(tokenizer=qwen2_tokenizer, generation_config=sampling)
    options = RunOptions(progress=False, use_cache=False)
    results = run_task(_chat_task(), backend, DataDir(tmp_path), tmp_path / "out", "tiny",
                       options)
    assert results["chat"]["generation_config"] == sampling
    assert results["chat"]["template"].startswith("checkpoint:")
    run_dir = Path(results["run_dir"])
    plan = [json.loads(line) for line in (run_dir / "plan.jsonl").read_text().splitlines()]
    spec = plan[0]["requests"][0]
    assert spec["context"].endswith("<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n")
    assert spec["chat"]["messages"][-1] == {"role": "user", "content": "1+1?"}
    assert "repetition_penalty" not in spec  # 1.0: left out; the checkpoint's 1.3 not applied
    # Greedy: the checkpoint's sampling settings are never applied. Same as a plain request.
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    plain = GenerateRequest(spec["context"], stop=tuple(spec["stop"]), max_new_tokens=6)
    fresh = HFBackend(tiny_model, qwen2_tokenizer, batch_size=1)
    assert [r for _, r in fresh.run([plain], progress=False)][0]["text"] == samples[0]["extracted"]

    # repetition_penalty=None asks for the checkpoint's value, explicitly, in the plan.
    results = run_task(_chat_task(penalty=None), backend, DataDir(tmp_path), tmp_path / "pen",
                       "tiny", options)
    plan = (Path(results["run_dir"]) / "plan.jsonl").read_text()
    assert json.loads(plan.splitlines()[0])["requests"][0]["repetition_penalty"] == 1.3

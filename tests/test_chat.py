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


def test_openai_backend_gets_the_same_rendered_text_on_completions(
        tiny_model, qwen2_tokenizer, tmp_path):
    """A completions server (here: the tiny model behind HTTP) receives the rendered prompt as
    text on /v1/completions; it reads the same tokens and gives the same replies."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from evaluate.backends.hf import HFBackend
    from evaluate.backends.openai import OpenAIBackend
    from evaluate.requests import cut_at_stops

    model = HFBackend(tiny_model, qwen2_tokenizer, batch_size=1)
    lock, seen = threading.Lock(), []

    class Server(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def reply(self, data: dict) -> None:
            blob = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob)

        def do_GET(self) -> None:
            self.reply({"data": [{"id": "tiny"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            request = GenerateRequest(body["prompt"], stop=tuple(body.get("stop", ())),
                                      max_new_tokens=body["max_tokens"])
            with lock:
                seen.append((self.path, body, model.encode(body["prompt"])))
                answer = next(iter(model.run([request], progress=False)))[1]
            text = cut_at_stops(answer["text"], request.stop)  # servers cut at the stop
            self.reply({"choices": [{"text": text, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": answer["context_tokens"],
                                  "completion_tokens": answer["num_tokens"]}})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        remote = OpenAIBackend(f"http://127.0.0.1:{httpd.server_port}/v1", "tiny", concurrency=2)
        remote.chat_renderer = ChatRenderer(tokenizer=qwen2_tokenizer)
        local = HFBackend(tiny_model, qwen2_tokenizer, batch_size=2)
        options = RunOptions(progress=False, use_cache=False)
        runs = [run_task(_chat_task(), backend, DataDir(tmp_path), tmp_path / name, "m", options)
                for name, backend in (("remote", remote), ("local", local))]
    finally:
        httpd.shutdown()
    plans = [(Path(r["run_dir"]) / "plan.jsonl").read_text() for r in runs]
    assert plans[0] == plans[1]
    contexts = [json.loads(line)["requests"][0]["context"] for line in plans[0].splitlines()]
    assert sorted(b["prompt"] for _, b, _ in seen) == sorted(contexts)
    assert {path for path, _, _ in seen} == {"/v1/completions"}
    assert all(ids == local.encode(b["prompt"]) for _, b, ids in seen)
    replies = []
    for run in runs:
        rows = (Path(run["run_dir"]) / "samples.jsonl").read_text().splitlines()
        replies.append([cut_at_stops(json.loads(r)["extracted"], ("\n\n", "<|im_end|>"))
                        for r in rows])
    assert replies[0] == replies[1]


@pytest.fixture()
def templateless_model_dir(tiny_model, qwen2_tokenizer, tmp_path) -> Path:
    """The tiny model with a tokenizer that carries no chat template (as a base checkpoint)."""
    path = tmp_path / "base-model"
    tiny_model.save_pretrained(path)
    qwen2_tokenizer.save_pretrained(path)
    (path / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((path / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    return path


def test_chat_task_without_template_is_one_line_before_any_work(
        templateless_model_dir, data_dir, tmp_path, capsys):
    from evaluate.cli import main

    code = main(["--model", str(templateless_model_dir), "--task", "mbpp:evalplus-instruct",
                 "--limit", "1", "--output", str(tmp_path / "out"), "--data-dir", str(data_dir),
                 "--no-cache"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "has no chat template" in err[0] and "--chat-template" in err[0]
    assert not (tmp_path / "out").exists()  # nothing planned, no model loaded


def test_chat_template_option_is_part_of_the_model_identity(templateless_model_dir):
    from evaluate.cache import model_fingerprint
    from evaluate.evaluation import ModelSpec, load_backend

    plain = load_backend(ModelSpec(str(templateless_model_dir), device="cpu"), lazy=True)
    chatml = load_backend(ModelSpec(str(templateless_model_dir), device="cpu",
                                    chat_template="chatml"), lazy=True)
    assert chatml.identity()["chat_template"] == "chatml"
    assert "chat_template" not in plain.identity()
    assert model_fingerprint(plain.identity()) != model_fingerprint(chatml.identity())
    request = chatml.chat_renderer.render(GenerateRequest("", chat=conversation("hi")))
    assert request.context == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert not chatml.loaded  # rendering needed no weights


def test_backend_uses_recorded_ids_and_repetition_penalty(tiny_model, qwen2_tokenizer):
    import torch
    from transformers import RepetitionPenaltyLogitsProcessor

    from evaluate.backends.hf import HFBackend, penalize_repetition

    backend = HFBackend(tiny_model, qwen2_tokenizer, batch_size=1)
    text = "<|im_start|>user\nhi<|im_end|>\n"
    ids = tuple(backend.encode("<|im_start|>user\n") + backend.encode("\nhi"))
    plain, exact = (next(iter(backend.run([GenerateRequest(text, context_ids=c,
                                                           max_new_tokens=3)], False)))[1]
                    for c in (None, ids))
    assert exact["context_tokens"] == len(ids) != plain["context_tokens"]
    logits = torch.randn(50)
    seen = [3, 7, 7, 20]
    reference = RepetitionPenaltyLogitsProcessor(1.3)(torch.tensor([seen]), logits[None].clone())
    assert torch.allclose(penalize_repetition(logits, seen, 1.3), reference[0])
    # Decoding with a penalty equals Transformers' generate with the same penalty; a huge one
    # forbids every token already seen.
    prompt = backend.encode("def f(x):\n    return x + x + x")
    for penalty in (1.3, 1e9):
        ours = next(iter(backend.run([GenerateRequest(
            "def f(x):\n    return x + x + x", max_new_tokens=12, repetition_penalty=penalty)],
            False)))[1]
        theirs = tiny_model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False,
                                     repetition_penalty=penalty, eos_token_id=None,
                                     pad_token_id=0)[0, len(prompt):].tolist()
        assert ours["text"] == qwen2_tokenizer.decode(theirs)
    assert len(set(prompt + theirs)) == len(set(prompt)) + len(theirs)

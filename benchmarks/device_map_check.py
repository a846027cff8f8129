"""`--device-map auto --max-memory`: a model split over a GPU and the CPU answers as on one GPU.

Saves a random Qwen2 (8 layers, hidden 1,024, the real Qwen2 vocabulary; 1.6 GB in float32) as a
Transformers folder, shows where ``--max-memory`` puts its parameters, runs MMLU and GSM8K through
the CLI on one GPU and split, and compares the per-sample records. Needs a CUDA GPU::

    EVALUATE_DATA_DIR=.gpu/data python benchmarks/device_map_check.py \\
        --tokenizer .gpu/tokenizers/qwen2 --max-memory 0=1500MiB,cpu=30GiB

Results: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import glob
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluate.backends.hf import HFBackend  # noqa: E402
from evaluate.evaluation import parse_max_memory  # noqa: E402


def samples(root: Path, task: str) -> dict[str, dict]:
    [path] = glob.glob(f"{root}/*/{task}/samples.jsonl")
    return {row["id"]: row for row in map(json.loads, Path(path).read_text().splitlines())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", default="../shared/tokenizers/qwen2")
    parser.add_argument("--max-memory", default="0=1500MiB,cpu=30GiB")
    parser.add_argument("--limit", type=int, default=24)
    args = parser.parse_args()
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    work = Path(tempfile.mkdtemp(prefix="device-map-"))
    model_dir = work / "model"
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
        num_attention_heads=16, num_key_value_heads=4, max_position_embeddings=4096,
        initializer_range=0.05, tie_word_embeddings=False,
        bos_token_id=151643, eos_token_id=151643, pad_token_id=151643)
    Qwen2ForCausalLM(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)

    split = HFBackend.load(str(model_dir), dtype="float32", device_map="auto",
                           max_memory=parse_max_memory(args.max_memory))
    where: dict[str, set[str]] = {}
    for name, parameter in split.model.named_parameters():  # "meta": offloaded to the CPU
        where.setdefault(str(parameter.device), set()).add(".".join(name.split(".")[:3]))
    print("placement:", {device: sorted(names) for device, names in where.items()})
    del split

    common = [sys.executable, "-m", "evaluate", "--model", str(model_dir), "--dtype", "float32",
              "--no-cache", "--task", "mmlu,gsm8k", "--limit", str(args.limit), "--no-progress"]
    runs = {"one-gpu": ["--device", "cuda"],
            "split": ["--device-map", "auto", "--max-memory", args.max_memory]}
    for name, extra in runs.items():
        start = time.time()
        done = subprocess.run([*common, *extra, "--output", str(work / name)], cwd=REPO,
                              capture_output=True, text=True)
        print(f"{name}: exit {done.returncode}, {time.time() - start:.0f} s")
        print(done.stdout[-1000:], done.stderr[-400:])
    for task in ("mmlu", "gsm8k"):
        one, two = samples(work / "one-gpu", task), samples(work / "split", task)
        same = sum(one[k]["extracted"] == two[k]["extracted"] for k in one)
        if task == "mmlu":
            worst = max(abs(a - b) for k in one for a, b in zip(
                one[k]["responses"][0]["logprobs"], two[k]["responses"][0]["logprobs"],
                strict=True))
            print(f"mmlu: same prediction {same}/{len(one)}, max |logprob difference| {worst:.2e}")
        else:
            texts = sum(one[k]["responses"][0]["text"] == two[k]["responses"][0]["text"]
                        for k in one)
            print(f"gsm8k: same answer {same}/{len(one)}, identical generations {texts}/{len(one)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""This harness against lm-evaluation-harness: same machine, model, data files and prompts.

    python benchmarks/vs_lm_eval.py --lm-eval-python /path/to/lm-eval-venv/bin/python \
        [--model DIR] [--subjects abstract_algebra,anatomy,...] [--gsm8k-limit 16] \
        [--batch-size 8] [--data-dir ../shared/data] [--skip-gsm8k]

lm-evaluation-harness runs from its own environment (``pip install lm-eval`` into a separate
venv; pass its interpreter). This script writes, at run time into a temporary folder, an lm-eval
task configuration that reads the same local files and renders exactly Qwen's prompts:

- MMLU, whole subjects: Qwen's header as lm-eval's ``description``, ``"Question: ..."`` as
  ``doc_to_text``, the first 5 dev rows as shots (``first_n`` sampler), ``" "`` + letter as the
  target, shots joined by ``"\\n\\n"``; lm-eval scores the log-likelihood of ``" A"``..``" D"``,
  which for one-token continuations picks the same letter as Qwen's next-token softmax.
- GSM8K, a fixed subset (the first N test problems): Qwen's 8-shot prompt per problem, greedy,
  the same stop strings, 512 new tokens. Both harnesses' raw generations are scored here by the
  same code (``evaluate.tasks.gsm8k``), so accuracy differences can only come from the
  generations.

It checks that the prompts lm-eval logged equal ours, then prints wall time, questions/s,
prompt tokens/s (the tokens of the full prompts, the same numerator for both) and accuracy for
both harnesses, and the speed ratio. The model defaults to the embedded Qwen2.5-Coder-0.5B-
Instruct (its dequantised Transformers folder, which both harnesses load the same way, float32
on the CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluate.data import DataDir  # noqa: E402
from evaluate.evaluation import ModelSpec, load_backend  # noqa: E402
from evaluate.registry import get_task  # noqa: E402
from evaluate.requests import cut_at_stops  # noqa: E402
from evaluate.runner import RunOptions, run_task  # noqa: E402

LM_EVAL_MMLU_TEXT = "Question: {{question}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\nAnswer:"
DEFAULT_SUBJECTS = "abstract_algebra,anatomy,college_physics,high_school_geography"


def subset_task(name: str, keep) -> object:
    """A copy of a registered task that loads only the docs ``keep`` accepts."""
    task = get_task(name)

    def load(data):
        return [doc for doc in task.load(data) if keep(doc)]

    return dataclasses.replace(task, name=f"{name}:bench", load=load)


def write_lm_eval_tasks(folder: Path, mmlu_docs, gsm8k_docs, subjects) -> list[str]:
    """lm-eval YAML tasks and JSONL data (written here, at run time) for the same prompts."""
    from evaluate.tasks.mmlu import qwen_header
    from evaluate.tasks.multiple_choice import read_csv_pandas

    names = []
    data = DataDir(os.environ.get("EVALUATE_DATA_DIR"))
    for subject in subjects:
        rows = {}
        for split in ("dev", "test"):
            path = data.path(f"mmlu/{split}/{subject}_{split}.csv")
            frame = read_csv_pandas(path, names=("question", "A", "B", "C", "D", "answer"))
            rows[split] = [{"question": f"{r['question']}", "A": f"{r['A']}", "B": f"{r['B']}",
                            "C": f"{r['C']}", "D": f"{r['D']}",
                            "label": "ABCD".index(r["answer"])} for r in frame]
            (folder / f"{subject}_{split}.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in rows[split]))
        name = f"qwenbench_mmlu_{subject}"
        (folder / f"{name}.yaml").write_text(json.dumps({
            "task": name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(folder / f"{subject}_test.jsonl"),
                                              "dev": str(folder / f"{subject}_dev.jsonl")}},
            "test_split": "test",
            "fewshot_split": "dev",
            "fewshot_config": {"sampler": "first_n"},
            "num_fewshot": 5,
            "output_type": "multiple_choice",
            "description": qwen_header(subject),
            "doc_to_text": LM_EVAL_MMLU_TEXT,
            "doc_to_choice": ["A", "B", "C", "D"],
            "doc_to_target": "{{label}}",
            "target_delimiter": " ",
            "fewshot_delimiter": "\n\n",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        }, indent=1))
        names.append(name)
    if gsm8k_docs:
        (folder / "gsm8k.jsonl").write_text("".join(
            json.dumps({"prompt": prompt, "id": doc_id}) + "\n" for doc_id, prompt in gsm8k_docs))
        from evaluate.tasks.gsm8k import MAX_NEW_TOKENS, STOPS

        (folder / "qwenbench_gsm8k.yaml").write_text(json.dumps({
            "task": "qwenbench_gsm8k",
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(folder / "gsm8k.jsonl")}},
            "test_split": "test",
            "output_type": "generate_until",
            "doc_to_text": "{{prompt}}",
            "doc_to_target": "{{id}}",
            "target_delimiter": "",
            "generation_kwargs": {"until": list(STOPS), "max_gen_toks": MAX_NEW_TOKENS,
                                  "do_sample": False},
            "metric_list": [{"metric": "exact_match", "aggregation": "mean",
                             "higher_is_better": True}],
        }, indent=1))
        names.append("qwenbench_gsm8k")
    return names


def run_lm_eval(python: str, model_dir: Path, folder: Path, names: list[str], batch: int,
                limit: int | None = None):
    out = folder / f"lm_eval_out_{len(list(folder.glob('lm_eval_out_*')))}"
    command = [python, "-m", "lm_eval", "--model", "hf", "--model_args",
               f"pretrained={model_dir},dtype=float32", "--tasks", ",".join(names),
               "--include_path", str(folder), "--batch_size", str(batch), "--device", "cpu",
               "--log_samples", "--output_path", str(out)]
    if limit is not None:
        command += ["--limit", str(limit)]
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"})
    wall = time.time() - start
    if done.returncode != 0:
        raise SystemExit(f"lm-eval failed:\n{done.stderr[-3000:]}")
    samples = {}
    for path in out.rglob("samples_*.jsonl"):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        samples[task] = [json.loads(line) for line in path.open()]
    return wall, samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lm-eval-python", required=True)
    parser.add_argument("--model", help="Transformers folder (default: the embedded model)")
    parser.add_argument("--subjects", default=DEFAULT_SUBJECTS)
    parser.add_argument("--gsm8k-limit", type=int, default=16)
    parser.add_argument("--skip-gsm8k", action="store_true")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--data-dir", default=os.environ.get("EVALUATE_DATA_DIR", "data"))
    args = parser.parse_args()
    os.environ["EVALUATE_DATA_DIR"] = args.data_dir
    subjects = args.subjects.split(",")

    from evaluate.embedded import converted_dir

    # Loading the embedded model also writes its dequantised folder, which lm-eval then reads.
    backend = load_backend(ModelSpec(args.model or "embedded", batch_size=args.batch_size))
    model_dir = Path(args.model) if args.model else converted_dir()

    mmlu = subset_task("mmlu", lambda d: d.meta["subject"] in subjects)
    gsm8k = get_task("gsm8k")
    gsm8k_ids = None
    if not args.skip_gsm8k:
        first = [d.id for d in gsm8k.load(DataDir(args.data_dir))][: args.gsm8k_limit]
        gsm8k_ids = set(first)
        gsm8k = subset_task("gsm8k", lambda doc: doc.id in gsm8k_ids)
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours = {}
        tasks = [mmlu] + ([gsm8k] if gsm8k_ids else [])
        for task in tasks:
            start = time.time()
            tokens_before = backend.tokens_in + backend.tokens_out
            result = run_task(task, backend, DataDir(args.data_dir), folder / "ours", "bench",
                              RunOptions(progress=False, use_cache=False))
            samples = [json.loads(x) for x in Path(result["run_dir"], "samples.jsonl").open()]
            ours[task.name] = {"wall": time.time() - start, "samples": samples,
                               "computed": backend.tokens_in + backend.tokens_out - tokens_before,
                               "accuracy": result["metrics"][result["headline"]]["value"]}
        gsm8k_prompts = ([(s["id"], s["prompt"]) for s in ours["gsm8k:bench"]["samples"]]
                         if gsm8k_ids else [])
        names = write_lm_eval_tasks(folder, None, gsm8k_prompts, subjects)
        mmlu_names = [n for n in names if n.startswith("qwenbench_mmlu")]
        # lm-eval's fixed cost (interpreter, imports, model load, one question) is measured on
        # its own and subtracted, so both harnesses are timed on the evaluation alone (ours is
        # timed after its model has loaded).
        startup, _ = run_lm_eval(args.lm_eval_python, model_dir, folder, mmlu_names[:1],
                                 args.batch_size, limit=1)
        # lm-eval runs each benchmark separately, so each gets its own wall time.
        wall_mmlu, theirs_mmlu = run_lm_eval(args.lm_eval_python, model_dir, folder, mmlu_names,
                                             args.batch_size)
        figures["mmlu"] = compare_mmlu(ours["mmlu:bench"], wall_mmlu - startup, theirs_mmlu,
                                       backend)
        if gsm8k_ids:
            wall_gsm, theirs_gsm = run_lm_eval(args.lm_eval_python, model_dir, folder,
                                               ["qwenbench_gsm8k"], args.batch_size)
            figures["gsm8k"] = compare_gsm8k(ours["gsm8k:bench"], wall_gsm - startup, theirs_gsm,
                                             backend)
        print(f"lm-eval fixed cost subtracted from its times: {startup:.1f} s "
              "(start-up, model load and one question)")
    print_table(figures)
    return 0


def compare_mmlu(ours, wall, theirs, backend):
    by_prompt = {s["prompt"]: s for s in ours["samples"]}
    same_prompt = agree = correct = total = 0
    for rows in theirs.values():
        for row in rows:
            context = row["arguments"][0][0] if isinstance(row["arguments"], list) else \
                row["arguments"]["gen_args_0"]["arg_0"]
            total += 1
            correct += row["acc"]
            mine = by_prompt.get(context)
            if mine is not None:
                same_prompt += 1
                scores = [float(resp[0]) for resp in row["filtered_resps"]]
                letter = "ABCD"[scores.index(max(scores))]
                agree += letter == mine["extracted"]
    tokens = sum(len(backend.encode(s["prompt"])) for s in ours["samples"])
    return {"questions": len(ours["samples"]), "prompt_tokens": tokens,
            "ours": (ours["wall"], ours["accuracy"], ours["computed"]),
            "theirs": (wall, 100 * correct / max(total, 1), tokens),
            "identical_prompts": f"{same_prompt}/{total}", "same_answer": f"{agree}/{same_prompt}"}


def compare_gsm8k(ours, wall, theirs, backend):
    from evaluate.task import ScoreInput
    from evaluate.tasks.gsm8k import STOPS

    qwen_score = get_task("gsm8k").score

    by_prompt = {s["prompt"]: s for s in ours["samples"]}
    same_prompt = same_text = correct = 0
    rows = next(iter(theirs.values()))
    generated = 0
    for row in rows:
        context = row["arguments"][0][0] if isinstance(row["arguments"], list) else \
            row["arguments"]["gen_args_0"]["arg_0"]
        text = row["resps"][0][0]
        generated += len(backend.encode(text))
        mine = by_prompt.get(context)
        if mine is None:
            continue
        same_prompt += 1
        kept = cut_at_stops(text, STOPS)
        same_text += kept == cut_at_stops(mine["responses"][0]["text"], STOPS)
        sample = ScoreInput(id=mine["id"], target=mine["target"], meta=mine["meta"])
        correct += qwen_score(sample, [{"text": text}]).score
    tokens = sum(len(backend.encode(s["prompt"])) for s in ours["samples"])
    return {"questions": len(ours["samples"]), "prompt_tokens": tokens,
            "ours": (ours["wall"], ours["accuracy"], ours["computed"]),
            "theirs": (wall, 100 * correct / max(len(rows), 1), tokens + generated),
            "identical_prompts": f"{same_prompt}/{len(rows)}",
            "same_answer": f"{same_text}/{same_prompt} identical kept generations"}


def print_table(figures):
    print("\n| benchmark | harness | wall (s) | questions/s | prompt tokens/s | tokens run "
          "| accuracy | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for name, f in figures.items():
        ours_wall, ours_acc, ours_tokens = f["ours"]
        their_wall, their_acc, their_tokens = f["theirs"]
        for label, wall, acc, run in (("this harness", ours_wall, ours_acc, ours_tokens),
                                      ("lm-eval", their_wall, their_acc, their_tokens)):
            ratio = f"{their_wall / ours_wall:.2f}x" if label == "this harness" else "1.00x"
            print(f"| {name} ({f['questions']} q) | {label} | {wall:.1f} | "
                  f"{f['questions'] / wall:.2f} | {f['prompt_tokens'] / wall:.0f} | {run} | "
                  f"{acc:.2f} | {ratio} |")
        print(f"|  | prompts identical: {f['identical_prompts']}; answers: {f['same_answer']} "
              "|  |  |  |  |  |  |")


if __name__ == "__main__":
    raise SystemExit(main())

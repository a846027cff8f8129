"""Where each benchmark's files come from, under which licence, and any access rule.

:data:`BENCHMARKS` maps a benchmark folder (as in ``data_manifest.json``) to its sources, tried
in order by :mod:`evaluate.download`:

- :class:`Files`: one URL per file (the original release, pinned to a commit where it has one);
- :class:`Archive`: members of one release archive (tar or zip), unpacked file by file;
- :class:`Hub`: rebuilt in the release layout from a Hugging Face hub copy by
  :func:`evaluate.data.from_hub` (MMLU, GSM8K);
- :class:`Derived`: rebuilt from another, verified file of the same benchmark.

A benchmark with no source says in ``access`` where to get its files by hand. :data:`SEALED`
names the archives that are checked by one encrypted member (GPQA).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_GH = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class Files:
    """One URL per file: ``base`` + the path below the benchmark folder, with the first
    matching ``prefixes`` entry (local prefix -> remote prefix) swapped, or ``rename[path]``
    (a path below ``base`` or a whole URL)."""

    base: str
    rename: dict[str, str] = field(default_factory=dict)
    prefixes: dict[str, str] = field(default_factory=dict)

    def url(self, folder: str, relative: str) -> str:
        tail = self.rename.get(relative)
        if tail is None:
            local = next((p for p in self.prefixes if relative.startswith(p)), folder + "/")
            tail = self.prefixes.get(local, "") + relative.removeprefix(local)
        return tail if "://" in tail else self.base.rstrip("/") + "/" + tail


@dataclass(frozen=True)
class Archive:
    """Members of one release archive: member ``src + rest`` -> data file ``dest + rest``."""

    url: str
    members: dict[str, str]  # member prefix -> data-dir prefix

    def member(self, relative: str) -> str | None:
        for src, dest in self.members.items():
            if relative.startswith(dest):
                return src + relative[len(dest):]
        return None


@dataclass(frozen=True)
class Hub:
    """Rebuilt from the hub copy named in :mod:`evaluate.data` (needs ``datasets``, online)."""


@dataclass(frozen=True)
class Derived:
    """Files rebuilt from another file of the benchmark once that one is there and verified:
    path -> (source path, function of its bytes)."""

    builds: dict[str, tuple[str, Callable[[bytes], bytes]]]


def jsonl_by_task_id(data: bytes) -> bytes:
    """A JSON list as JSONL sorted by ``task_id`` (OpenCompass's sanitized-mbpp.jsonl)."""
    rows = sorted(json.loads(data), key=lambda row: row["task_id"])
    return "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8")


Source = Files | Archive | Hub | Derived


@dataclass(frozen=True)
class Benchmark:
    licence: str
    sources: tuple[Source, ...] = ()
    access: str = "public"  # a rule the user must follow, or how to get files with no source


def _gh(repo_at: str) -> str:
    return f"{_GH}/{repo_at}"


BENCHMARKS: dict[str, Benchmark] = {
    "mmlu": Benchmark("MIT", (
        Archive("https://people.eecs.berkeley.edu/~hendrycks/data.tar", {"data/": "mmlu/"}),
        Hub())),
    "ceval": Benchmark("CC BY-NC-SA 4.0", (Archive(
        "https://huggingface.co/datasets/ceval/ceval-exam/resolve/main/ceval-exam.zip",
        {"": "ceval/"}),)),
    "cmmlu": Benchmark("CC BY-NC-SA 4.0", (Archive(
        "https://huggingface.co/datasets/haonan-li/cmmlu/resolve/main/cmmlu_v1_0_1.zip",
        {"": "cmmlu/"}),)),
    "gsm8k": Benchmark("MIT (data); Apache-2.0 (Qwen's 8-shot prompt)", (
        Files(_gh("openai/grade-school-math/master/grade_school_math/data"), {
            "gsm8k/qwen_8shot_prompt.txt": _gh("QwenLM/Qwen/main/eval/gsm8k_prompt.txt")}),
        Hub())),
    "humaneval": Benchmark("MIT", (Files(_gh("openai/human-eval/master/data")),)),
    "mbpp": Benchmark("CC BY 4.0", (
        Files(_gh("google-research/google-research/master/mbpp")),
        Derived({"mbpp/sanitized-mbpp.jsonl": ("mbpp/sanitized-mbpp.json", jsonl_by_task_id)}))),
    "math": Benchmark("MIT", access="test.jsonl is MATH's test split as one JSONL file "
                      "(id, problem, level, type, solution) built from "
                      "https://github.com/hendrycks/math; no published copy of this file"),
    "bbh": Benchmark("MIT", (Files(_gh("suzgun/BIG-Bench-Hard/main"), prefixes={
        "bbh/cot-prompts/": "cot-prompts/", "bbh/LICENSE": "LICENSE", "bbh/": "bbh/"}),)),
    "GAOKAO-BENCH": Benchmark("Apache-2.0", (Files(
        _gh("OpenLMLab/GAOKAO-Bench/f140805514f46bc1fa0f5940ccb17c3e3b245a26"),
        {"GAOKAO-BENCH/LICENSE": _gh("OpenLMLab/GAOKAO-Bench/6dbb24f8/LICENSE")}),)),
    "LCBench2023": Benchmark("none stated; problems (c) LeetCode", (Files(
        _gh("open-compass/CodeBench/f8b065186f403ab934bc8588b0cc2f6a0c561117/LCBench-v0.1"), {
            "LCBench2023/LCBench2023.jsonl": "LCBench-v0.1-en.jsonl",
            "LCBench2023/LCBench2023_cn.jsonl": "LCBench-v0.1-cn.jsonl"}),)),
    "TheoremQA": Benchmark("MIT", (Files(
        _gh("wenhuchen/TheoremQA/abbae729f03226c67cf32240c77556186a770bf8")),)),
    "triviaqa": Benchmark("Apache-2.0 (release repository; HF card: unknown); research use",
                          access="OpenCompass's layout of TriviaQA rc.wikipedia.nocontext "
                          "validation; get it from OpenCompass's data package (data/triviaqa/)"),
    "nq-open": Benchmark("CC BY-SA 3.0", access="OpenCompass's layout of NQ-open.dev.jsonl; "
                         "get it from OpenCompass's data package (data/nq-open/)"),
    "race": Benchmark("non-commercial research use only (CMU)", (Archive(
        "http://www.cs.cmu.edu/~glai1/data/race/RACE.tar.gz", {"RACE/": "race/RACE/"}),),
        access="RACE is released for non-commercial research use only"),
    "winogrande": Benchmark("CC BY 2.0", access="OpenCompass's copy of WinoGrande 1.1 dev and "
                            "train_xs; get it from OpenCompass's data package (data/winogrande/)"),
    "hellaswag": Benchmark("MIT", access="OpenCompass's preprocessed HellaSwag; get it from "
                           "OpenCompass's data package (data/hellaswag/)"),
    "gpqa": Benchmark("CC BY 4.0", (Files("https://github.com/idavidrein/gpqa/raw/main", {
        "gpqa/dataset.zip": "dataset.zip"}),),
        access="kept in the authors' password-protected dataset.zip, never unpacked to disk "
        "(verified by its dataset/gpqa_diamond.csv, read in memory); the authors ask that no "
        "plain-text copy of the questions be posted online"),
    "ifeval": Benchmark("Apache-2.0", (Files(_gh(
        "google-research/google-research/master/instruction_following_eval/data")),)),
    "nltk_data": Benchmark("Apache-2.0", (Archive(
        _gh("nltk/nltk_data/gh-pages/packages/tokenizers/punkt_tab.zip"),
        {"punkt_tab/": "nltk_data/tokenizers/punkt_tab/"}),)),
    "evalplus": Benchmark("Apache-2.0", (Files("https://github.com/evalplus", {
        "evalplus/HumanEvalPlus-v0.1.10.jsonl.gz":
            "humanevalplus_release/releases/download/v0.1.10/HumanEvalPlus.jsonl.gz",
        "evalplus/MbppPlus-v0.2.0.jsonl.gz":
            "mbppplus_release/releases/download/v0.2.0/MbppPlus.jsonl.gz",
        "evalplus/LICENSE": _gh("evalplus/humanevalplus_release/main/LICENSE")}),)),
    "long_latex": Benchmark("open licences per file (CC BY / BY-SA, Apache-2.0, MIT, GFDL, GPL)",
                            access="documents from many public repositories; see "
                            "long_latex/SOURCES.md in the project's shared data"),
}


@dataclass(frozen=True)
class Sealed:
    """An encrypted archive checked by the sha256 of one member, read in memory with the
    authors' published password and never written out: their own archive verifies although its
    bytes differ from the tested copy's."""

    member: str
    sha256: str
    password: bytes

    def holds(self, path: Path) -> bool:
        try:
            with zipfile.ZipFile(path) as archive:
                data = archive.read(self.member, pwd=self.password)
        except (zipfile.BadZipFile, KeyError, RuntimeError, OSError):
            return False
        return hashlib.sha256(data).hexdigest() == self.sha256


# GPQA's authors ask that the questions stay out of plain text online; the password is in their
# README (https://github.com/idavidrein/gpqa). The member hash is the official gpqa_diamond.csv.
SEALED = {"gpqa/dataset.zip": Sealed(
    "dataset/gpqa_diamond.csv",
    "41d1213cd7a4998605a26c2798500652572007161b3a92817ba46b35befcd305", b"deserted-untie-orchid")}

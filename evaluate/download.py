"""Fetch and verify benchmark files: ``python -m evaluate data download|verify``.

The manifest (``data_manifest.json``, package data) lists every file of every benchmark folder
with the sha256 and size of the bytes the harness is tested on. :data:`BENCHMARKS` says, per
folder, where the files come from (tried in order), under which licence, and any access rule:

- :class:`Files`: one URL per file (the original release, pinned to a commit where it has one);
- :class:`Archive`: members of one release archive (tar or zip), unpacked file by file;
- :class:`Hub`: rebuilt in the release layout from a Hugging Face hub copy by
  :func:`evaluate.data.from_hub` (MMLU, GSM8K).

Every fetched file is written to a temporary name beside its target, hashed while it is written,
and renamed into place only when its sha256 matches the manifest: an interrupted download leaves
no file, a mismatch is reported with both hashes and never installed. A file that is already
there and verifies is not fetched again; one that is there and differs is reported, not replaced.
``$EVALUATE_DATA_MIRROR`` (a URL base) replaces every URL's scheme and host:
``https://host/path`` is fetched from ``$EVALUATE_DATA_MIRROR/host/path`` (tests, local mirrors).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import BinaryIO

from evaluate.data import from_hub, has_hub_copy, sha256_file
from evaluate.errors import EvaluateError

MIRROR_ENV = "EVALUATE_DATA_MIRROR"
TIMEOUT_S = 60
CHUNK = 1 << 16
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


# ---- the manifest ----------------------------------------------------------------------------
def manifest() -> dict[str, dict[str, tuple[str, int]]]:
    """Benchmark folder -> {relative path: (sha256, size)} from the shipped manifest."""
    text = resources.files("evaluate").joinpath("data_manifest.json").read_text("utf-8")
    return {name: {rel: (v[0], v[1]) for rel, v in files.items()}
            for name, files in json.loads(text)["benchmarks"].items()}


def resolve(names: Iterable[str]) -> list[str]:
    """Benchmark folders for benchmark or task names (``all`` = every one); a clear error else."""
    known = manifest()
    wanted: list[str] = []
    for name in names:
        if name == "all":
            wanted.extend(known)
            continue
        if name in known:
            wanted.append(name)
            continue
        from evaluate.registry import get_task

        try:
            task = get_task(name)
        except EvaluateError:
            raise EvaluateError(f"unknown benchmark or task {name!r}: use all, a task name "
                                f"(--list-tasks) or one of {', '.join(known)}") from None
        folders = [f.split("/", 1)[0] for f in task.data_files if f.split("/", 1)[0] in known]
        if not folders:
            raise EvaluateError(f"task {name!r} reads no benchmark folder the manifest lists")
        wanted.extend(folders)
    return list(dict.fromkeys(wanted)) or list(known)


# ---- checking --------------------------------------------------------------------------------
@dataclass
class FileState:
    relative: str
    expected: str
    status: str  # ok, missing, mismatch, fetched, failed
    found: str | None = None  # the sha256 of what was there or was fetched
    note: str = ""


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


def _verified(relative: str, path: Path, found: str, expected: str) -> bool:
    sealed = SEALED.get(relative)
    return found == expected or (sealed is not None and sealed.holds(path))


def check(root: Path, relative: str, expected: str) -> FileState:
    path = root / relative
    if not path.is_file():
        return FileState(relative, expected, "missing")
    found = sha256_file(path)
    ok = _verified(relative, path, found, expected)
    return FileState(relative, expected, "ok" if ok else "mismatch", found)


def verify(root: Path, names: Iterable[str]) -> dict[str, list[FileState]]:
    """Per benchmark, the state of every manifest file under ``root``."""
    files = manifest()
    return {name: [check(root, rel, sha) for rel, (sha, _size) in files[name].items()]
            for name in resolve(names)}


def verify_table(states: dict[str, list[FileState]]) -> str:
    """One row per benchmark (files, ok, missing, mismatched, licence), then each mismatch."""
    width = max([len(n) for n in states] + [9])
    lines = [f"{'benchmark':<{width}}  {'files':>5}  {'ok':>5}  {'missing':>7}  "
             f"{'mismatch':>8}  {'source':<15}  licence"]
    problems = []
    for name, rows in states.items():
        count = {s: sum(r.status == s for r in rows) for s in ("ok", "missing", "mismatch")}
        lines.append(f"{name:<{width}}  {len(rows):>5}  {count['ok']:>5}  {count['missing']:>7}  "
                     f"{count['mismatch']:>8}  {how_to_get(name):<15}  "
                     f"{BENCHMARKS[name].licence}")
        problems += [mismatch_line(r) for r in rows if r.status == "mismatch"]
    return "\n".join(lines + problems)


def how_to_get(name: str) -> str:
    """``release``, ``release, hub`` or ``by hand`` (the access rule says how)."""
    kinds = ["hub" if isinstance(s, Hub) else "release" for s in BENCHMARKS[name].sources
             if not isinstance(s, Derived)]
    return ", ".join(dict.fromkeys(kinds)) or "by hand"


def mismatch_line(state: FileState) -> str:
    return (f"MISMATCH {state.relative}: expected sha256 {state.expected}, "
            f"found {state.found}{' (' + state.note + ')' if state.note else ''}")


# ---- fetching --------------------------------------------------------------------------------
def mirrored(url: str) -> str:
    """``url`` itself, or under ``$EVALUATE_DATA_MIRROR`` (scheme and host become a path)."""
    base = os.environ.get(MIRROR_ENV)
    if not base:
        return url
    parts = urllib.parse.urlsplit(url)
    return f"{base.rstrip('/')}/{parts.netloc}{parts.path}"


def _open_url(url: str):
    request = urllib.request.Request(mirrored(url), headers={"User-Agent": "qwen-evaluate"})
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 (http(s) only)


def _copy(source: BinaryIO, sink: BinaryIO, total: int | None, label: str,
          progress: bool) -> str:
    """Copy with a progress bar; returns the sha256 of the bytes copied. Raises ConnectionError
    when fewer than ``total`` bytes arrive (the connection closed mid-file)."""
    digest = hashlib.sha256()
    copied = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False,
                   file=sys.stderr)
    try:
        while block := source.read(CHUNK):
            digest.update(block)
            sink.write(block)
            copied += len(block)
            if bar is not None:
                bar.update(len(block))
    finally:
        if bar is not None:
            bar.close()
    if total is not None and copied != total:
        raise ConnectionError(f"connection closed after {copied} of {total} bytes of {label}")
    return digest.hexdigest()


def install(root: Path, relative: str, expected: str, write: Callable[[BinaryIO], str]
            ) -> FileState:
    """Write a file through ``write`` (returns its sha256) to a temporary name beside the target;
    rename it into place only if the hash matches. Nothing is left behind otherwise."""
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".part", delete=False)
    tmp = Path(handle.name)
    try:
        with handle:
            found = write(handle)
        if not _verified(relative, tmp, found, expected):
            return FileState(relative, expected, "mismatch", found)
        os.replace(tmp, target)
        return FileState(relative, expected, "fetched", found)
    finally:
        tmp.unlink(missing_ok=True)


def _from_url(root: Path, relative: str, expected: str, url: str, progress: bool) -> FileState:
    def write(sink: BinaryIO) -> str:
        with _open_url(url) as response:
            length = response.headers.get("Content-Length")
            return _copy(response, sink, int(length) if length else None, relative, progress)

    state = install(root, relative, expected, write)
    state.note = f"from {mirrored(url)}"
    return state


def _members(archive: Path) -> Iterator[tuple[str, Callable[[], BinaryIO]]]:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as handle:
            for info in handle.infolist():
                if not info.is_dir():
                    yield info.filename, lambda info=info: handle.open(info)
        return
    with tarfile.open(archive) as handle:
        for info in handle:
            if info.isfile():
                yield info.name.removeprefix("./"), (
                    lambda info=info: handle.extractfile(info) or io.BytesIO())


def _from_archive(root: Path, wanted: dict[str, str], source: Archive,
                  progress: bool) -> list[FileState]:
    """Download the archive once to a temporary file, then install each wanted member."""
    by_member = {source.member(rel): rel for rel in wanted}
    states = []
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as folder:
        archive = Path(folder) / Path(urllib.parse.urlsplit(source.url).path).name
        with _open_url(source.url) as response, open(archive, "wb") as sink:
            length = response.headers.get("Content-Length")
            _copy(response, sink, int(length) if length else None, archive.name, progress)
        for name, opener in _members(archive):
            relative = by_member.pop(name, None)
            if relative is None:
                continue

            def write(sink: BinaryIO, opener=opener) -> str:
                with opener() as member:
                    return _copy(member, sink, None, "", False)

            state = install(root, relative, wanted[relative], write)
            state.note = f"from {mirrored(source.url)}:{name}"
            states.append(state)
    states += [FileState(rel, wanted[rel], "failed", note=f"not in {mirrored(source.url)}")
               for rel in by_member.values()]
    return states


def _from_hub(root: Path, relative: str, expected: str) -> FileState:
    """Rebuild ``relative`` with :func:`evaluate.data.from_hub`, then verify and install it."""
    path, origin = from_hub(relative)

    def write(sink: BinaryIO) -> str:
        with open(path, "rb") as handle:
            return _copy(handle, sink, None, relative, False)

    state = install(root, relative, expected, write)
    state.note = f"from {origin}"
    return state


def _derive(root: Path, relative: str, expected: str, origin: str,
            build: Callable[[bytes], bytes]) -> FileState:
    """Build ``relative`` from ``origin`` (which must be there and verify), then install it."""
    state = check(root, origin, manifest()[origin.split("/", 1)[0]][origin][0])
    if state.status != "ok":
        return FileState(relative, expected, "failed", note=f"needs a verified {origin}")
    data = build((root / origin).read_bytes())
    state = install(root, relative, expected,
                    lambda sink: _copy(io.BytesIO(data), sink, len(data), relative, False))
    state.note = f"built from {origin}"
    return state


def _remove_leftovers(root: Path, files: Iterable[str]) -> None:
    """Temporary files of a download that was killed outright (our names only)."""
    for folder in {(root / rel).parent for rel in files} | {root}:
        if folder.is_dir():
            for stale in folder.glob(".*.part"):
                stale.unlink(missing_ok=True)
            for stale in folder.glob(".download-*"):
                shutil.rmtree(stale, ignore_errors=True)


def download(root: Path, name: str, progress: bool = True,
             log: Callable[[str], None] = print) -> list[FileState]:
    """Fetch benchmark ``name``'s missing files into ``root``; returns every file's final state.

    Sources are tried in order for the files still missing; a network or format error of one
    source is logged and the next is tried. Present files that verify are skipped; present files
    that differ are reported and left as they are.
    """
    benchmark = BENCHMARKS[name]
    files = manifest()[name]
    _remove_leftovers(root, files)
    states = {rel: check(root, rel, sha) for rel, (sha, _size) in files.items()}
    pending = {rel: s.expected for rel, s in states.items() if s.status == "missing"}
    if pending and not benchmark.sources:
        log(f"{name}: {len(pending)} file(s) missing, not downloadable here: "
            f"{benchmark.access}")
    for source in benchmark.sources:
        if not pending:
            break
        try:
            if isinstance(source, Archive):
                mine = {rel: sha for rel, sha in pending.items() if source.member(rel) is not None}
                fetched = _from_archive(root, mine, source, progress) if mine else []
            else:
                fetched = [_one(root, rel, sha, name, source, progress)
                           for rel, sha in pending.items() if _covers(source, rel)]
        except Exception as exc:  # network, HTTP or archive error: try the next source
            log(f"{name}: {type(source).__name__} source failed ({type(exc).__name__}: {exc})")
            continue
        for state in fetched:
            if state.status == "mismatch":
                log(mismatch_line(state))
            elif state.status == "failed":
                log(f"{name}: could not fetch {state.relative} ({state.note})")
            if state.status == "fetched" or states[state.relative].status == "missing":
                states[state.relative] = state
            if state.status == "fetched":
                pending.pop(state.relative, None)
    return list(states.values())


def _covers(source: Source, relative: str) -> bool:
    if isinstance(source, Hub):
        return has_hub_copy(relative)
    if isinstance(source, Derived):
        return relative in source.builds
    return True


def _one(root: Path, relative: str, expected: str, name: str, source: Files | Hub | Derived,
         progress: bool) -> FileState:
    """One file from a per-file source; an error becomes a ``failed`` state naming it."""
    try:
        if isinstance(source, Hub):
            return _from_hub(root, relative, expected)
        if isinstance(source, Derived):
            return _derive(root, relative, expected, *source.builds[relative])
        return _from_url(root, relative, expected, source.url(name, relative), progress)
    except (OSError, ValueError, ImportError) as exc:  # URLError/HTTPError are OSErrors
        return FileState(relative, expected, "failed", note=f"{type(exc).__name__}: {exc}")


# ---- the command -----------------------------------------------------------------------------
def command(argv: list[str]) -> int:
    """``data download [NAME...|all]`` and ``data verify [NAME...]``; 1 if a file is not ok."""
    import argparse

    from evaluate.data import default_data_dir

    parser = argparse.ArgumentParser(
        prog="python -m evaluate data",
        description="Fetch benchmark files from their public sources and verify them against "
                    "the sha256 values the project ships.")
    parser.add_argument("action", choices=["download", "verify"])
    parser.add_argument("names", nargs="*", help="benchmark folders or task names, or all "
                        "(default: all)")
    parser.add_argument("--data-dir", help="default: $EVALUATE_DATA_DIR, else ./data")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    root = Path(args.data_dir) if args.data_dir else default_data_dir()
    names = resolve(args.names or ["all"])
    if args.action == "download":
        root.mkdir(parents=True, exist_ok=True)
        for name in names:
            rule = BENCHMARKS[name]
            print(f"{name}: licence {rule.licence}"
                  + (f"; {rule.access}" if rule.access != "public" and rule.sources else ""))
            states = download(root, name, progress=not args.no_progress)
            fetched = sum(s.status == "fetched" for s in states)
            ok = sum(s.status in ("ok", "fetched") for s in states)
            print(f"{name}: {ok}/{len(states)} files ok ({fetched} fetched, "
                  f"{ok - fetched} already there)")
    states = verify(root, names)
    print(f"data dir: {root.resolve()}")
    print(verify_table(states))
    return 0 if all(s.status == "ok" for rows in states.values() for s in rows) else 1

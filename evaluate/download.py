"""Fetch and verify benchmark files: ``python -m evaluate data download|verify``.

The manifest (``data_manifest.json``, package data) lists every file of every benchmark folder
with the sha256 and size of the bytes the harness is tested on; :mod:`evaluate.data_sources`
says where each benchmark's files come from, under which licence, and any access rule.

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
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from typing import IO, Any

from evaluate.data import from_hub, has_hub_copy, sha256_file
from evaluate.data_sources import BENCHMARKS, SEALED, Archive, Derived, Files, Hub, Source
from evaluate.errors import EvaluateError

MIRROR_ENV = "EVALUATE_DATA_MIRROR"
TIMEOUT_S = 60
CHUNK = 1 << 16


# ---- the manifest ----------------------------------------------------------------------------
def manifest() -> dict[str, dict[str, tuple[str, int]]]:
    """Benchmark folder -> {relative path: (sha256, size)} from the shipped manifest."""
    text = resources.files("evaluate").joinpath("data_manifest.json").read_text("utf-8")
    return {name: {rel: (v[0], v[1]) for rel, v in files.items()}
            for name, files in json.loads(text)["benchmarks"].items()}


def build_manifest(sums: Path) -> str:
    """The manifest's text from a ``sha256sum`` listing of a data folder (its SHA256SUMS), less
    the folder's own notes (NOTICE*.md, long_latex/SOURCES.md, the top README). Regenerate with
    ``python -c "from evaluate.download import *; print(build_manifest(Path(P)), end='')"``."""
    root = sums.parent
    files: dict[str, dict[str, list[Any]]] = {}
    for line in sums.read_text(encoding="utf-8").splitlines():
        sha, name = line.split(None, 1)
        relative = name.strip().removeprefix("./")
        folder, _, rest = relative.partition("/")
        base = rest.rsplit("/", 1)[-1]
        if not rest or base.startswith("NOTICE") or relative == "long_latex/SOURCES.md":
            continue
        files.setdefault(folder, {})[relative] = [sha, (root / relative).stat().st_size]
    lines = ["{", ' "format": "qwen-evaluate-data-manifest/1",',
             ' "note": "[sha256, size in bytes] of every benchmark file the harness is tested on",',
             ' "benchmarks": {']
    for i, folder in enumerate(sorted(files)):
        entries = sorted(files[folder].items())
        lines.append(f"  {json.dumps(folder)}: {{")
        lines += [f"   {json.dumps(rel, ensure_ascii=False)}: {json.dumps(value)}"
                  + ("," if j < len(entries) - 1 else "") for j, (rel, value) in enumerate(entries)]
        lines.append("  }" + ("," if i < len(files) - 1 else ""))
    return "\n".join([*lines, " }", "}"]) + "\n"


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


def _copy(source: IO[bytes], sink: IO[bytes], total: int | None, label: str,
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


def install(root: Path, relative: str, expected: str, write: Callable[[IO[bytes]], str]
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
    def write(sink: IO[bytes]) -> str:
        with _open_url(url) as response:
            length = response.headers.get("Content-Length")
            return _copy(response, sink, int(length) if length else None, relative, progress)

    state = install(root, relative, expected, write)
    state.note = f"from {mirrored(url)}"
    return state


def _members(archive: Path) -> Iterator[tuple[str, Callable[[], IO[bytes]]]]:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            for entry in zipped.infolist():
                if not entry.is_dir():
                    yield entry.filename, partial(zipped.open, entry)
        return
    with tarfile.open(archive) as tarred:
        for member in tarred:
            if member.isfile():
                yield member.name.removeprefix("./"), partial(_extract, tarred, member)


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    return archive.extractfile(member) or io.BytesIO()


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

            def write(sink: IO[bytes], opener=opener) -> str:
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

    def write(sink: IO[bytes]) -> str:
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
            got = download(root, name, progress=not args.no_progress)
            fetched = sum(s.status == "fetched" for s in got)
            ok = sum(s.status in ("ok", "fetched") for s in got)
            print(f"{name}: {ok}/{len(got)} files ok ({fetched} fetched, "
                  f"{ok - fetched} already there)")
    states = verify(root, names)
    print(f"data dir: {root.resolve()}")
    print(verify_table(states))
    return 0 if all(s.status == "ok" for rows in states.values() for s in rows) else 1

"""``data download`` / ``data verify`` against local mirrors: a real HTTP server on 127.0.0.1
serving release files from a temporary folder, and a hub dataset in the hub's own layout."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.parse
import zipfile
from pathlib import Path

import pytest

from evaluate.data_sources import BENCHMARKS, Archive, Files
from evaluate.download import MIRROR_ENV, command, download, manifest, verify

ROOT = Path(__file__).resolve().parents[1]


def _mirror_path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.netloc + parts.path


def _put_release_file(mirror: Path, data_dir: Path, name: str, relative: str,
                      content: bytes | None = None) -> None:
    """Place ``relative`` where benchmark ``name``'s first per-file source says it lives."""
    source = next(s for s in BENCHMARKS[name].sources if isinstance(s, Files))
    target = mirror / _mirror_path(source.url(name, relative))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content if content is not None else (data_dir / relative).read_bytes())


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output quiet; count requests instead
        self.server.requests.append(self.path)  # type: ignore[attr-defined]


@pytest.fixture()
def mirror(tmp_path, monkeypatch):
    """(folder served, list of request paths) with $EVALUATE_DATA_MIRROR pointing at it."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder)))
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{server.server_port}")
    yield folder, server.requests  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_manifest_matches_the_source_table():
    files = manifest()
    assert set(files) == set(BENCHMARKS)
    assert len(files["mmlu"]) == 114 and len(files["race"]) == 2796
    assert all(len(sha) == 64 and size > 0 for fs in files.values() for sha, size in fs.values())
    assert "password-protected" in BENCHMARKS["gpqa"].access


def test_gpqa_stays_sealed_and_the_authors_archive_verifies(mirror, data_dir, tmp_path):
    """The authors' zip differs in bytes from the tested copy (here: another archive comment)
    but holds the same encrypted CSV: it verifies by that member, and nothing is unpacked."""
    folder, _ = mirror
    theirs = tmp_path / "theirs.zip"
    theirs.write_bytes((data_dir / "gpqa/dataset.zip").read_bytes())
    with zipfile.ZipFile(theirs, "a") as handle:
        handle.comment = b"the authors' own archive"
    _put_release_file(folder, data_dir, "gpqa", "gpqa/dataset.zip", theirs.read_bytes())
    root = tmp_path / "data"
    state = download(root, "gpqa", progress=False)[0]
    assert state.status == "fetched" and state.found != state.expected
    assert [p.name for p in root.rglob("*") if p.is_file()] == ["dataset.zip"]
    fake = tmp_path / "fake.zip"
    with zipfile.ZipFile(fake, "w") as handle:
        handle.writestr("dataset/gpqa_diamond.csv", "not the questions")
    (root / "gpqa/dataset.zip").write_bytes(fake.read_bytes())
    assert verify(root, ["gpqa"])["gpqa"][0].status == "mismatch"


def test_the_shipped_manifest_is_the_tested_files(data_dir):
    from importlib import resources

    from evaluate.download import build_manifest

    shipped = resources.files("evaluate").joinpath("data_manifest.json").read_text("utf-8")
    assert build_manifest(data_dir / "SHA256SUMS") == shipped


def test_fetch_verify_then_skip(mirror, data_dir, tmp_path):
    folder, requests = mirror
    _put_release_file(folder, data_dir, "humaneval", "humaneval/HumanEval.jsonl.gz")
    root = tmp_path / "data"
    states = download(root, "humaneval", progress=False)
    assert [s.status for s in states] == ["fetched"]
    assert verify(root, ["humaneval"])["humaneval"][0].status == "ok"
    assert len(requests) == 1
    again = download(root, "humaneval", progress=False)  # present and verified: not fetched
    assert [s.status for s in again] == ["ok"] and len(requests) == 1


def test_archive_members_are_unpacked_and_verified(mirror, data_dir, tmp_path):
    folder, _ = mirror
    source = BENCHMARKS["nltk_data"].sources[0]
    assert isinstance(source, Archive)
    archive = folder / _mirror_path(source.url)
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as handle:
        for relative in manifest()["nltk_data"]:
            handle.write(data_dir / relative, source.member(relative))
    root = tmp_path / "data"
    assert {s.status for s in download(root, "nltk_data", progress=False)} == {"fetched"}
    assert {s.status for s in verify(root, ["nltk_data"])["nltk_data"]} == {"ok"}
    assert not [p for p in root.rglob("*") if p.name.startswith(".")]  # no temp left


def test_mismatch_is_reported_with_both_hashes_and_not_installed(mirror, data_dir, tmp_path,
                                                                 capsys):
    folder, _ = mirror
    good = (data_dir / "TheoremQA/LICENSE").read_bytes()
    _put_release_file(folder, data_dir, "TheoremQA", "TheoremQA/LICENSE", good + b"tampered\n")
    _put_release_file(folder, data_dir, "TheoremQA", "TheoremQA/theoremqa_test.json")
    root = tmp_path / "data"
    assert command(["download", "TheoremQA", "--data-dir", str(root), "--no-progress"]) == 1
    out = capsys.readouterr().out
    expected = manifest()["TheoremQA"]["TheoremQA/LICENSE"][0]
    import hashlib

    found = hashlib.sha256(good + b"tampered\n").hexdigest()
    assert f"expected sha256 {expected}, found {found}" in out
    assert not (root / "TheoremQA/LICENSE").exists()
    assert (root / "TheoremQA/theoremqa_test.json").is_file()
    assert not list((root / "TheoremQA").glob(".*"))


def test_a_present_file_that_differs_is_reported_and_left_alone(mirror, data_dir, tmp_path):
    folder, requests = mirror
    _put_release_file(folder, data_dir, "humaneval", "humaneval/HumanEval.jsonl.gz")
    root = tmp_path / "data"
    (root / "humaneval").mkdir(parents=True)
    (root / "humaneval/HumanEval.jsonl.gz").write_bytes(b"mine")
    state = download(root, "humaneval", progress=False)[0]
    assert state.status == "mismatch" and state.found and state.found != state.expected
    assert (root / "humaneval/HumanEval.jsonl.gz").read_bytes() == b"mine" and not requests


_DYING_SERVER = """
import http.server, os, signal, sys
body = open(sys.argv[1], "rb").read()
class Half(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # the server dies mid-file
server = http.server.HTTPServer(("127.0.0.1", 0), Half)
print(server.server_port, flush=True)
server.serve_forever()
"""


def test_an_interrupted_download_leaves_no_file(data_dir, tmp_path, monkeypatch):
    process = subprocess.Popen([sys.executable, "-c", _DYING_SERVER,
                                str(data_dir / "humaneval/HumanEval.jsonl.gz")],
                               stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())
        monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{port}")
        root = tmp_path / "data"
        logged: list[str] = []
        state = download(root, "humaneval", progress=False, log=logged.append)[0]
        assert process.wait(timeout=30) != 0  # it was killed
    finally:
        process.kill()
    assert state.status == "failed" and "connection closed after" in state.note, logged
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_a_derived_file_is_built_from_its_verified_source(mirror, data_dir, tmp_path):
    folder, _ = mirror  # the release has the .json; OpenCompass's .jsonl is rebuilt from it
    for relative in ("mbpp/mbpp.jsonl", "mbpp/sanitized-mbpp.json"):
        _put_release_file(folder, data_dir, "mbpp", relative)
    states = {s.relative: s for s in download(tmp_path / "data", "mbpp", progress=False,
                                              log=lambda line: None)}
    assert {r: s.status for r, s in states.items()} == dict.fromkeys(manifest()["mbpp"],
                                                                      "fetched")
    assert states["mbpp/sanitized-mbpp.jsonl"].note == "built from mbpp/sanitized-mbpp.json"


def test_leftovers_of_a_killed_download_are_removed(mirror, data_dir, tmp_path):
    folder, _ = mirror
    _put_release_file(folder, data_dir, "humaneval", "humaneval/HumanEval.jsonl.gz")
    root = tmp_path / "data"
    (root / "humaneval").mkdir(parents=True)
    stale = root / "humaneval" / ".HumanEval.jsonl.gz.x1y2.part"  # as install() names them
    stale.write_bytes(b"half a file")
    (root / ".download-abc").mkdir()
    assert download(root, "humaneval", progress=False)[0].status == "fetched"
    assert sorted(p.name for p in root.rglob("*")) == ["HumanEval.jsonl.gz", "humaneval"]


def _hub_gsm8k(folder: Path, data_dir: Path) -> None:
    """openai/gsm8k in the hub's own layout (README configs + parquet shards)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = folder / "openai" / "gsm8k"
    (repo / "main").mkdir(parents=True)
    (repo / "README.md").write_text(
        "---\nconfigs:\n- config_name: main\n  data_files:\n  - split: train\n"
        "    path: main/train-*\n  - split: test\n    path: main/test-*\n---\n")
    for split in ("train", "test"):
        lines = (data_dir / f"gsm8k/{split}.jsonl").read_text(encoding="utf-8").splitlines()
        pq.write_table(pa.Table.from_pylist([json.loads(line) for line in lines]),
                       repo / "main" / f"{split}-00000-of-00001.parquet")


def test_hub_copy_rebuilt_in_the_release_layout(mirror, data_dir, tmp_path, monkeypatch):
    folder, _ = mirror  # serves the Qwen prompt only: the release JSONL files are 404 there
    _put_release_file(folder, data_dir, "gsm8k", "gsm8k/qwen_8shot_prompt.txt")
    hub = tmp_path / "hub"
    _hub_gsm8k(hub, data_dir)
    monkeypatch.chdir(hub)  # `datasets` resolves "openai/gsm8k" to this local copy first
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    root = tmp_path / "data"
    logged: list[str] = []
    states = {s.relative: s for s in download(root, "gsm8k", progress=False, log=logged.append)}
    assert {r: s.status for r, s in states.items()} == {
        "gsm8k/qwen_8shot_prompt.txt": "fetched", "gsm8k/test.jsonl": "fetched",
        "gsm8k/train.jsonl": "fetched"}, logged
    assert states["gsm8k/test.jsonl"].note == "from hub:openai/gsm8k/main/test"


def _hub_mmlu(folder: Path, data_dir: Path) -> None:
    """cais/mmlu's "all" config in the hub's layout (question, subject, choices, answer 0-3)."""
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = folder / "cais" / "mmlu"
    (repo / "all").mkdir(parents=True)
    (repo / "README.md").write_text(
        "---\nconfigs:\n- config_name: all\n  data_files:\n  - split: dev\n"
        "    path: all/dev-*\n  - split: test\n    path: all/test-*\n---\n")
    for split in ("dev", "test"):
        rows = []
        for path in sorted((data_dir / "mmlu" / split).glob(f"*_{split}.csv")):
            subject = path.name.removesuffix(f"_{split}.csv")
            with open(path, encoding="utf-8", newline="") as handle:
                rows += [{"question": q, "subject": subject, "choices": [a, b, c, d],
                          "answer": "ABCD".index(answer)}
                         for q, a, b, c, d, answer in csv.reader(handle)]
        pq.write_table(pa.Table.from_pylist(rows), repo / "all" / f"{split}-00000-of-00001.parquet")


def test_mmlu_from_the_hub_when_the_release_archive_fails(mirror, data_dir, tmp_path,
                                                          monkeypatch):
    hub = tmp_path / "hub"  # the mirror has no data.tar: the archive source fails, the hub works
    _hub_mmlu(hub, data_dir)
    monkeypatch.chdir(hub)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    logged: list[str] = []
    states = download(tmp_path / "data", "mmlu", progress=False, log=logged.append)
    assert len(states) == 114 and {s.status for s in states} == {"fetched"}, logged[:3]
    assert any("Archive source failed" in line for line in logged)


def test_verify_the_shared_data(data_dir, capsys):
    states = verify(data_dir, ["all"])
    present = [n for n, rows in states.items() if (data_dir / n).is_dir()]
    assert present
    for name in present:
        assert {s.status for s in states[name]} == {"ok"}, name
    assert command(["verify", *present, "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "mmlu" in out and "MIT" in out and "MISMATCH" not in out


def test_cli_download_by_task_name(mirror, data_dir, tmp_path):
    folder, _ = mirror
    _put_release_file(folder, data_dir, "humaneval", "humaneval/HumanEval.jsonl.gz")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "evaluate", "data", "download", "humaneval",
                           "--data-dir", str(tmp_path / "d"), "--no-progress"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "humaneval: 1/1 files ok (1 fetched, 0 already there)" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "evaluate", "data", "verify", "math",
                              "--data-dir", str(tmp_path / "d")],
                             capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert missing.returncode == 1 and "by hand" in missing.stdout

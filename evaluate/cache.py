"""A persistent request cache shared by every run: (model fingerprint, request hash) -> response.

Stored in SQLite (``$EVALUATE_CACHE/requests.sqlite``, default ``~/.cache/qwen-evaluate``) in WAL
mode. Responses are written in small transactions as they arrive, so a run killed with SIGKILL
never leaves a torn record, and a re-run of the same model and task -- in any output folder --
answers every request from here. Together with the lazy backend (the model's weights load only
when some request is not cached), such a re-run is near-instant.

The fingerprint covers what decides a response: the model's identity (path or hub id, revision,
config hash, GGUF sha256 or the weight files' sizes and modification times, dtype, backend and any
context knobs) -- not the batch size, the device index or the vllm backend's engine settings,
which must not change results.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from evaluate.requests import Response

# "engine": the vllm backend's parallel sizes, memory and eager settings (like the batch size,
# they change results only by float rounding).
VOLATILE_IDENTITY_KEYS = ("device", "lm_head_split", "attention", "packing", "source", "engine")


def default_path() -> Path:
    root = Path(os.environ.get("EVALUATE_CACHE", Path.home() / ".cache" / "qwen-evaluate"))
    return root / "requests.sqlite"


def model_fingerprint(identity: Mapping[str, Any]) -> str:
    """A stable hash of the parts of a backend identity that decide its responses."""
    stable = {k: v for k, v in identity.items() if k not in VOLATILE_IDENTITY_KEYS}
    blob = json.dumps(stable, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


class RequestCache:
    """Responses by (model fingerprint, request hash), safe across processes and kills."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (model TEXT NOT NULL, request TEXT NOT NULL, "
            "response TEXT NOT NULL, PRIMARY KEY (model, request))"
        )
        self._db.commit()

    def get_many(self, model: str, hashes: Iterable[str]) -> dict[str, Response]:
        """The cached responses among ``hashes``."""
        found: dict[str, Response] = {}
        keys = list(hashes)
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT request, response FROM responses WHERE model = ? AND request IN "
                    f"({marks})", [model, *chunk],
                ).fetchall()
                for request, response in rows:
                    found[request] = json.loads(response)
        return found

    def put_many(self, model: str, items: Iterable[tuple[str, Response]]) -> None:
        """Store responses in one transaction."""
        rows = [(model, key, json.dumps(value, ensure_ascii=False)) for key, value in items]
        if not rows:
            return
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO responses (model, request, response) VALUES (?, ?, ?)",
                rows,
            )

    def count(self, model: str | None = None) -> int:
        with self._lock:
            if model is None:
                return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            return self._db.execute(
                "SELECT COUNT(*) FROM responses WHERE model = ?", [model]
            ).fetchone()[0]

    def clear(self, model: str | None = None) -> int:
        """Delete every response (or one model's); returns how many were removed."""
        with self._lock, self._db:
            if model is None:
                removed = self._db.execute("DELETE FROM responses").rowcount
            else:
                removed = self._db.execute("DELETE FROM responses WHERE model = ?",
                                           [model]).rowcount
        with self._lock:
            self._db.execute("VACUUM")
        return removed

    def close(self) -> None:
        with self._lock:
            self._db.close()

"""Serve the viewer on 127.0.0.1, or write it as static files (``view --export DIR``).

The page (``static/``) asks a small JSON API for what it shows; samples come a page at a time,
filtered and searched here, so a run with tens of thousands of samples opens at once. Every
response carries a strict Content-Security-Policy (scripts and styles from this origin only, no
inline code), and requests naming another host are refused (DNS rebinding).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from evaluate.errors import EvaluateError
from evaluate.viewer.api import Catalog

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'")
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
STATIC_MARKER = "<!-- static data -->"


def to_json(data: Any) -> str:
    """Strict JSON (browsers reject NaN): non-finite numbers become null."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(data), ensure_ascii=False, default=str, allow_nan=False)


def static_text(name: str) -> str:
    return resources.files("evaluate.viewer").joinpath("static", name).read_text("utf-8")


def _int(query: dict[str, list[str]], key: str, default: int) -> int:
    try:
        return int(query.get(key, [default])[0])
    except ValueError:
        raise EvaluateError(f"{key} must be an integer") from None


class Handler(BaseHTTPRequestHandler):
    catalog: Catalog
    plot_dir: Path
    server_version = "qwen-evaluate-viewer"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the URL was printed
        pass

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP + "; frame-ancestors 'none'")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, data: Any, status: int = HTTPStatus.OK) -> None:
        body = to_json(data).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8")

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost"):
            self._send(HTTPStatus.FORBIDDEN, b"forbidden host", "text/plain")
            return
        url = urllib.parse.urlsplit(self.path)
        name = url.path.lstrip("/") or "index.html"
        if name in STATIC:
            self._send(HTTPStatus.OK, static_text(name).encode("utf-8"), STATIC[name])
            return
        if not name.startswith("api/"):
            self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
            return
        query = urllib.parse.parse_qs(url.query)
        try:
            if name == "api/plot.png":
                path = self.plot_dir / "plot.png"
                if not path.is_file():
                    self.catalog.plot(path)
                self._send(HTTPStatus.OK, path.read_bytes(), "image/png")
            else:
                self._json(self._api(name, query))
        except EvaluateError as exc:
            self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)

    def _api(self, name: str, query: dict[str, list[str]]) -> Any:
        catalog = self.catalog
        if name == "api/runs":
            return {"runs": catalog.runs_table()}
        run = _int(query, "run", -1)
        if name == "api/run":
            return catalog.run(run)
        if name == "api/samples":
            return catalog.samples(run, _int(query, "offset", 0), _int(query, "limit", 50),
                                   query.get("verdict", [""])[0], query.get("q", [""])[0])
        if name == "api/sample":
            return catalog.sample(run, _int(query, "index", -1))
        if name == "api/diff":
            return catalog.diff(_int(query, "a", -1), _int(query, "b", -1),
                                _int(query, "offset", 0), _int(query, "limit", 100))
        raise EvaluateError(f"unknown path /{name}")


def serve(catalog: Catalog, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start the server on 127.0.0.1 (``port`` 0: a free one) in a thread; (server, URL)."""
    plot_dir = Path(tempfile.mkdtemp(prefix="evaluate-view-"))
    handler = type("BoundHandler", (Handler,), {"catalog": catalog, "plot_dir": plot_dir})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/"


def _data_script(key: str, value: Any) -> str:
    payload = to_json(value)
    return f"window.EVALUATE_DATA = window.EVALUATE_DATA || {{}};\n" \
           f"window.EVALUATE_DATA[{json.dumps(key)}] = {payload};\n"


def export(catalog: Catalog, folder: str | Path) -> Path:
    """Write the page and every run's data as static files (opens from disk or any server)."""
    folder = Path(folder)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for name in ("app.js", "style.css"):
        (folder / name).write_text(static_text(name), encoding="utf-8")
    html = static_text("index.html").replace(
        STATIC_MARKER, '<script src="data/runs.js"></script>')
    (folder / "index.html").write_text(html, encoding="utf-8")
    plot: str | dict[str, str] | None = None
    try:
        plot = catalog.plot(folder / "plot.png").name
    except EvaluateError as exc:  # no matplotlib, or nothing to plot: the page says why
        plot = {"error": str(exc)}
    runs = catalog.runs_table()
    (folder / "data" / "runs.js").write_text(
        _data_script("runs", {"runs": runs, "plot": plot}), encoding="utf-8")
    for number in range(len(runs)):
        (folder / "data" / f"run-{number}.js").write_text(_data_script(
            f"run-{number}", {"run": catalog.run(number),
                              "samples": catalog.all_samples(number)}), encoding="utf-8")
        for other in catalog.run(number)["siblings"]:
            if other > number:
                (folder / "data" / f"diff-{number}-{other}.js").write_text(_data_script(
                    f"diff-{number}-{other}", catalog.diff(number, other, 0, None)),
                    encoding="utf-8")
    return folder / "index.html"


def command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluate view",
        description="Browse runs in a local page: scores beside reported values, samples, "
                    "two runs compared, score against model size.")
    parser.add_argument("results", nargs="+", help="results.json files or folders")
    parser.add_argument("--export", metavar="DIR", help="write the page as static files to DIR")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    catalog = Catalog(args.results)
    if args.export:
        if Path(args.export).exists() and any(Path(args.export).iterdir()):
            shutil.rmtree(Path(args.export) / "data", ignore_errors=True)
        print(f"written: {export(catalog, args.export)}")
        return 0
    server, url = serve(catalog, args.port)
    print(f"viewer: {url}  ({len(catalog.runs)} run(s); Ctrl-C stops)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.shutdown()
    return 0

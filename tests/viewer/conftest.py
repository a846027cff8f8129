"""Fixtures for the viewer: runs in the runner's layout, a live server, a headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from evaluate.viewer.api import Catalog
from evaluate.viewer.server import serve

from .runs import ARTIFACTS, HOSTILE, mmlu_sample, write_run

SUBJECTS = ("anatomy", "astronomy", "virology")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,900")


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    """Qwen-7B and Qwen-14B on MMLU (120 shared ids, different verdicts; one hostile prompt)
    and Qwen-7B on HumanEval (sandbox verdicts)."""
    out = tmp_path_factory.mktemp("runs")
    small = [mmlu_sample(i, i % 3 != 0, SUBJECTS[i % 3]) for i in range(120)]
    large = [mmlu_sample(i, i % 4 != 0, SUBJECTS[i % 3]) for i in range(120)]
    small[5]["prompt"] = small[5]["requests"][0]["context"] = HOSTILE
    small[5]["responses"] = [HOSTILE]
    write_run(out, "Qwen/Qwen-7B", "mmlu", small)
    write_run(out, "Qwen/Qwen-14B", "mmlu", large)
    code = [{"id": f"HumanEval/{i}", "prompt": "def f():\n",
             "requests": [{"hash": f"c{i}", "context": "def f():\n", "kind": "generate"}],
             "responses": [{"text": "    return 1\n", "num_tokens": 4, "finish": "eos"}],
             "target": {"entry_point": "f"},
             "extracted": "    return 1\n", "score": float(i % 2), "weight": 1.0, "meta": {},
             "extra": {"status": "passed" if i % 2 else "failed",
                       "detail": "" if i % 2 else "AssertionError <script>window.__pwned=3"
                                                  "</script>"}} for i in range(10)]
    write_run(out, "Qwen/Qwen-7B", "humaneval", code)
    return out


@pytest.fixture(scope="session")
def catalog(runs_dir) -> Catalog:
    return Catalog([runs_dir])


@pytest.fixture(scope="session")
def server_url(catalog):
    server, url = serve(catalog)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """Debian's chromium through chromedriver. Missing: a skip that says why, or a failure
    where ``EVALUATE_REQUIRE_BROWSER=1`` (CI installs both)."""
    required = os.environ.get("EVALUATE_REQUIRE_BROWSER") == "1"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if required:
            raise
        pytest.skip("selenium not installed (pip install -e '.[view-tests]')")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        if required:
            pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium "
                        "chromium-driver)")
        pytest.skip("chromium / chromium-driver not installed (apt-get install chromium "
                    "chromium-driver)")
    os.environ["SE_OFFLINE"] = "true"  # never let selenium fetch a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()

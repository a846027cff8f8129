"""The viewer in a real headless Chromium: pages render, filters and the diff work, hostile
sample text stays text, the static export works from disk, a 14,042-sample run pages quickly.
Screenshots go to test-artifacts/viewer/ (git-ignored)."""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest

if os.environ.get("EVALUATE_REQUIRE_BROWSER") != "1":  # CI: a missing selenium fails
    pytest.importorskip("selenium", reason="selenium not installed (pip install -e "
                        "'.[view-tests]')")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from evaluate.viewer.api import Catalog  # noqa: E402
from evaluate.viewer.server import export, serve  # noqa: E402

from .runs import ARTIFACTS, HOSTILE, mmlu_sample, run_number, write_run  # noqa: E402


def wait_ready(driver) -> None:
    """Wait until the page says it has rendered the route in its address (or an error)."""
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(
        "const r = document.body.getAttribute('data-ready');"
        "return r === 'error' || r === (location.hash || '#/');"))


def show(driver, url: str, shot: str | None = None) -> None:
    """Open ``url`` (with a #/ route) and wait until it is rendered."""
    driver.get(url)
    wait_ready(driver)
    if shot:
        path = ARTIFACTS / f"{shot}.png"
        driver.save_screenshot(str(path))
        print(f"screenshot: {path}")


def texts(driver, selector: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, selector)]


def no_error(driver) -> None:
    assert not driver.find_elements(By.ID, "error"), texts(driver, "#error")


def test_runs_page(browser, server_url):
    show(browser, server_url + "#/", "runs")
    no_error(browser)
    rows = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    assert len(rows) == 3
    seven = next(r.text for r in rows if "Qwen/Qwen-7B mmlu" in r.text)
    assert "58.20" in seven and "2026-01-02T03:04:05+0000" in seven and "12.5" in seven


def test_run_page_filter_and_search(browser, server_url, catalog):
    number = run_number(catalog, "Qwen/Qwen-7B", "mmlu")
    show(browser, server_url + f"#/run/{number}", "run")
    no_error(browser)
    assert browser.find_element(By.ID, "count").text == "1–50 of 120"
    assert "subject:anatomy" in browser.find_element(By.ID, "groups").text
    Select(browser.find_element(By.ID, "verdict")).select_by_value("wrong")
    wait_ready(browser)
    assert browser.find_element(By.ID, "count").text == "1–40 of 40"
    assert set(texts(browser, "#samples tbody td:nth-child(3)")) == {"wrong"}
    box = browser.find_element(By.ID, "search")
    box.send_keys("question 30:")
    browser.find_element(By.ID, "search-button").click()
    wait_ready(browser)
    assert browser.find_element(By.ID, "count").text == "1–1 of 1"
    assert texts(browser, "#samples tbody td:nth-child(2)") == ["anatomy/30"]
    browser.save_screenshot(str(ARTIFACTS / "run-filtered.png"))


def test_sample_page_and_hostile_text(browser, server_url, catalog):
    number = run_number(catalog, "Qwen/Qwen-7B", "mmlu")
    show(browser, server_url + f"#/run/{number}", None)  # the hostile prompt in the table
    assert browser.execute_script("return window.__pwned === undefined")
    show(browser, server_url + f"#/sample/{number}/5", "sample-hostile")
    no_error(browser)
    prompt = browser.find_element(By.ID, "prompt")
    assert prompt.get_attribute("textContent").startswith(
        '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">\u2400\u2407')
    assert len(prompt.get_attribute("textContent")) == len(HOSTILE)
    assert browser.find_element(By.ID, "response").get_attribute("textContent").startswith(
        "<script>")
    assert browser.find_elements(By.CSS_SELECTOR, "main script, main img") == []
    assert browser.execute_script("return window.__pwned === undefined")
    show(browser, server_url + f"#/sample/{number}/7", None)
    assert browser.find_element(By.ID, "extracted").text == "A"
    assert browser.find_element(By.ID, "target").text == "A"


def test_code_sample_shows_the_sandbox_verdict(browser, server_url, catalog):
    number = run_number(catalog, "Qwen/Qwen-7B", "humaneval")
    show(browser, server_url + f"#/sample/{number}/0", "sample-code")
    no_error(browser)
    assert browser.find_element(By.ID, "sandbox-status").text == "failed"
    assert browser.find_element(By.ID, "response").get_attribute("textContent") == "    return 1\n"
    assert "<script>window.__pwned=3</script>" in browser.find_element(By.ID,
                                                                       "sandbox-detail").text
    assert browser.execute_script("return window.__pwned === undefined")


def test_diff_lists_changed_samples_first(browser, server_url, catalog):
    a = run_number(catalog, "Qwen/Qwen-7B", "mmlu")
    b = run_number(catalog, "Qwen/Qwen-14B", "mmlu")
    show(browser, server_url + f"#/diff/{min(a, b)}/{max(a, b)}", "diff")
    no_error(browser)
    classes = [r.get_attribute("class") for r in
               browser.find_elements(By.CSS_SELECTOR, "#diff tbody tr")]
    changed = catalog.diff(min(a, b), max(a, b))["changed"]
    assert classes[:changed] == ["changed"] * changed and "changed" not in classes[changed:]
    assert "paired on 120 samples" in browser.find_element(By.ID, "paired").text


def test_plot_page(browser, server_url):
    show(browser, server_url + "#/plot", None)
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(
        "const i = document.getElementById('plot'); return i && i.complete && i.naturalWidth > 0"
        " || !!document.getElementById('error');"))
    no_error(browser)
    browser.save_screenshot(str(ARTIFACTS / "plot.png"))


def test_static_export_works_from_disk(browser, catalog, tmp_path):
    index = export(catalog, tmp_path / "site")
    url = index.as_uri()
    show(browser, url + "#/", "export-runs")
    no_error(browser)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 3
    number = run_number(catalog, "Qwen/Qwen-7B", "mmlu")
    show(browser, url + f"#/run/{number}?verdict=wrong&q=question%203", "export-run")
    no_error(browser)
    assert set(texts(browser, "#samples tbody td:nth-child(3)")) == {"wrong"}
    expected = catalog.samples(number, verdict="wrong", search="question 3")["total"]
    assert browser.find_element(By.ID, "count").text == f"1–{expected} of {expected}"
    show(browser, url + f"#/sample/{number}/5", None)
    assert browser.find_element(By.ID, "prompt").get_attribute("textContent") == HOSTILE.replace(
        "\x00", "\u2400").replace("\x07", "\u2407").replace("\x1b", "\u241b")
    assert browser.execute_script("return window.__pwned === undefined")
    other = run_number(catalog, "Qwen/Qwen-14B", "mmlu")
    show(browser, url + f"#/diff/{min(number, other)}/{max(number, other)}", "export-diff")
    no_error(browser)
    assert browser.find_elements(By.CSS_SELECTOR, "#diff tbody tr.changed")
    show(browser, url + "#/plot", None)
    no_error(browser)


def test_a_14042_sample_run_pages_quickly(browser, tmp_path):
    subjects = [f"subject_{k}" for k in range(57)]
    shots = "".join(f"Example question {k} with four options.\nA. a\nB. b\nC. c\nD. d\n"
                    f"Answer: A\n\n" for k in range(5)) * 8  # about 2.5 KB, like MMLU 5-shot
    samples = []
    for i in range(14042):
        sample = mmlu_sample(i, i % 3 != 0, subjects[i % 57])
        sample["prompt"] = sample["requests"][0]["context"] = shots + sample["prompt"]
        samples.append(sample)
    run_dir = write_run(tmp_path, "Qwen/Qwen-7B", "mmlu", samples)
    size = (run_dir / "samples.jsonl").stat().st_size
    start = time.perf_counter()
    catalog = Catalog([tmp_path])
    server, url = serve(catalog)
    try:
        with urllib.request.urlopen(url + "api/samples?run=0&offset=0&limit=50") as response:
            page = json.loads(response.read())
        first_page = time.perf_counter() - start
        assert page["total"] == 14042 and len(page["rows"]) == 50
        start = time.perf_counter()
        show(browser, url + "#/run/0", "large-run")
        rendered = time.perf_counter() - start
        no_error(browser)
        assert len(browser.find_elements(By.CSS_SELECTOR, "#samples tbody tr")) == 50
        start = time.perf_counter()
        Select(browser.find_element(By.ID, "verdict")).select_by_value("wrong")
        wait_ready(browser)
        assert browser.find_element(By.ID, "count").text == "1–50 of 4681"
        filtered = time.perf_counter() - start
    finally:
        server.shutdown()
        server.server_close()
    print(f"14,042 samples ({size / 1e6:.1f} MB): catalog + first page over HTTP "
          f"{first_page:.3f} s; page rendered in Chromium {rendered:.3f} s; "
          f"first verdict filter {filtered:.3f} s")

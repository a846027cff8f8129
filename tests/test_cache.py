"""The shared request cache: survives SIGKILL, makes re-runs near-instant, can be cleared."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from evaluate.cache import RequestCache, model_fingerprint

REPO = Path(__file__).resolve().parents[1]


def test_put_get_clear(tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    cache.put_many("m1", [("a", {"x": 1}), ("b", {"x": 2})])
    cache.put_many("m2", [("a", {"x": 3})])
    assert cache.get_many("m1", ["a", "b", "c"]) == {"a": {"x": 1}, "b": {"x": 2}}
    assert cache.get_many("m2", ["a"]) == {"a": {"x": 3}}
    assert cache.clear("m1") == 2 and cache.count() == 1
    assert cache.clear() == 1 and cache.count() == 0


def test_fingerprint_ignores_device_but_not_dtype():
    base = {"model": "m", "dtype": "float32", "device": "cpu"}
    assert model_fingerprint(base) == model_fingerprint({**base, "device": "cuda:1"})
    assert model_fingerprint(base) != model_fingerprint({**base, "dtype": "bfloat16"})


SCRIPT = textwrap.dedent('''
    import json, sys, time
    sys.path.insert(0, {tests!r})
    from conftest import make_tiny_qwen2
    from transformers import AutoTokenizer
    from evaluate.backends.hf import HFBackend
    from evaluate.data import DataDir
    from evaluate.runner import RunOptions, run_task
    from test_runner import TOY

    tok = AutoTokenizer.from_pretrained({tok!r})
    backend = HFBackend(make_tiny_qwen2(len(tok)), tok, batch_size=2,
                        identity={{"model": "tiny-for-kill-test"}})
    real = backend._loglikelihood_batch
    calls = []
    def slow(items):
        calls.append(len(items))
        time.sleep({delay})
        return real(items)
    backend._loglikelihood_batch = slow
    result = run_task(TOY, backend, DataDir({data!r}), __import__("pathlib").Path({out!r}),
                      "tiny", RunOptions(progress=False))
    print(json.dumps({{"computed": sum(calls), "metrics": result["metrics"]}}))
''')


def _script(tmp_path, toy_data, out, delay, qwen2_tokenizer_dir):
    path = tmp_path / f"run_{delay}.py"
    path.write_text(SCRIPT.format(tests=str(REPO / "tests"), tok=str(qwen2_tokenizer_dir),
                                  delay=delay, data=str(toy_data.root), out=str(out)))
    return path


def test_sigkilled_run_resumes_from_the_cache(tmp_path, toy_data, qwen2_tokenizer_dir,
                                              _private_cache):
    env = {**os.environ, "EVALUATE_CACHE": str(tmp_path / "cache")}
    slow = _script(tmp_path, toy_data, tmp_path / "out1", 0.4, qwen2_tokenizer_dir)
    proc = subprocess.Popen([sys.executable, str(slow)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cache = RequestCache(tmp_path / "cache" / "requests.sqlite")
    deadline = time.time() + 120
    while cache.count() < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = cache.count()
    assert 4 <= finished < 12, finished
    # A fresh run in another output folder recomputes only what the killed run had not finished.
    fast = _script(tmp_path, toy_data, tmp_path / "out2", 0.0, qwen2_tokenizer_dir)
    done = subprocess.run([sys.executable, str(fast)], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["computed"] == 12 - finished
    # And once more: nothing is computed at all.
    again = subprocess.run([sys.executable, str(fast)], env=env, cwd=REPO, capture_output=True,
                           text=True, timeout=300)
    assert json.loads(again.stdout.strip().splitlines()[-1])["computed"] == 0

"""A wheel install (not editable) carries what the package reads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_ships_the_published_numbers(tmp_path):
    """Build a wheel, install it into a bare folder, and look up reported numbers from there.

    The published tables were once read from ``results/reported/`` beside the source tree, which
    a wheel does not have: an installed package then printed no reported column at all.
    """
    source, wheels, site = tmp_path / "source", tmp_path / "wheels", tmp_path / "site"
    source.mkdir()  # a clean copy: no build/ or egg-info left over from earlier builds
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "evaluate", source / "evaluate",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(source)], check=True)
    [wheel] = wheels.glob("qwen_evaluate-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True)
    probe = (
        "import evaluate, evaluate.reported as r; print(evaluate.__file__); "
        "print(r.lookup_in('qwen_base', 'Qwen-7B', 'mmlu')); "
        "print(len(r.table_models('opencompass_qwen1.5_chat')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, check=True,
                         capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}).stdout.split()
    assert Path(out[0]).is_relative_to(site)  # the wheel's copy, not this checkout
    assert float(out[1]) > 0 and int(out[2]) > 0


def test_the_readme_layout_names_every_module():
    """README's "Layout" names each module of ``evaluate/`` and ``evaluate/backends/``."""
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    package = root / "evaluate"
    missing = [f"{path.parent.name}/{path.name}" for folder in (package, package / "backends")
               for path in sorted(folder.glob("*.py"))
               if not path.name.startswith("__") and path.name not in layout]
    missing += [f"{path.name}/" for path in sorted(package.iterdir())
                if path.is_dir() and not path.name.startswith("__")
                and f"{path.name}/" not in layout]
    assert not missing, f"README's Layout does not name: {', '.join(missing)}"

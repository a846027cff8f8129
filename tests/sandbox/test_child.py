"""The sandbox's child scripts stay standalone: standard library only, nothing of the caller."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import pytest

from evaluate.sandbox import Limits, run_program
from evaluate.sandbox import child as child_package
from evaluate.sandbox.child import bootstrap
from evaluate.sandbox.supervisor import BOOTSTRAP, RUNNER
from evaluate.sandbox.verdict import SETUP_FAILED

CHILD = Path(child_package.__file__).parent


@pytest.mark.parametrize("path", sorted(CHILD.glob("*.py")), ids=lambda p: p.name)
def test_child_scripts_import_the_standard_library_only(path: Path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            imported.add(str(node.module).split(".")[0])
    outside = imported - set(sys.stdlib_module_names)
    assert not outside, f"{path.name} imports {outside}"


def test_the_supervisor_runs_the_files_of_this_package():
    assert BOOTSTRAP.parent == RUNNER.parent == CHILD
    assert bootstrap.SETUP_FAILED == SETUP_FAILED


def test_the_program_starts_in_an_isolated_interpreter():
    """Nothing but the standard library has run before the program (no site-packages ``.pth``
    hooks, such as an editable install's finder), yet site-packages and site's builtins are
    there as under a plain ``python -I``."""
    result = run_program(textwrap.dedent("""
        import sys
        loaded = sorted(name for name in sys.modules
                        if name.split(".")[0] not in sys.stdlib_module_names)
        assert loaded == ["__main__"], loaded
        assert sys.flags.isolated == 1 and sys.argv == ["main.py"]
        assert __name__ == "__main__" and "_execute" not in globals()
        assert any(path.endswith(("site-packages", "dist-packages")) for path in sys.path)
        import tqdm  # a dependency of this project: importable from site-packages
        exit(7)  # site's builtin
        """), Limits(timeout_s=10.0))
    assert (result.status, result.detail) == ("error", "SystemExit: 7"), result

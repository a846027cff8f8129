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
    result = run_program(textwrap.dedent("""
        import sys, sysconfig
        paths = sysconfig.get_paths()
        stdlib = (paths["stdlib"], paths["platstdlib"])
        loaded = sorted(name for name, module in sys.modules.items()
                        if getattr(module, "__file__", None)
                        and not module.__file__.startswith(stdlib))
        assert not loaded, loaded  # nothing beyond the standard library before the program
        assert not any(name.split(".")[0] == "evaluate" for name in sys.modules)
        assert sys.flags.isolated == 1 and sys.argv == ["main.py"]
        assert __name__ == "__main__" and "_execute" not in globals()
        """), Limits(timeout_s=10.0))
    assert result.status == "passed", result

"""evaluate_model's checks before any work: the output folder."""

from __future__ import annotations

import pytest

from evaluate.cli import main


@pytest.mark.parametrize("below", ["", "sub/dir"])
def test_output_that_is_a_file_is_one_line(tmp_path, capsys, data_dir, below):
    """``--output`` naming an existing file (or a path through one): one line, exit 2."""
    existing = tmp_path / "results.txt"
    existing.write_text("not a folder\n")
    output = existing / below if below else existing
    code = main(["--model", "embedded", "--task", "gsm8k", "--limit", "1",
                 "--data-dir", str(data_dir), "--output", str(output)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "is a file, not a folder" in err and "Traceback" not in err
    assert existing.read_text() == "not a folder\n"

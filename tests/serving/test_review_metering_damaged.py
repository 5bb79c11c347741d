"""`monitor --metering` over a metering.sqlite that is not a database: one error naming the file,
not a traceback (commands/monitor.py _metering)."""

from __future__ import annotations

from promptwise.cli import main


def test_a_damaged_metering_file_is_one_error_naming_it(tmp_path, capsys, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".promptwise").mkdir()
    (tmp_path / ".promptwise" / "metering.sqlite").write_bytes(b"not a database, " * 64)
    monkeypatch.chdir(tmp_path)
    assert main(["monitor", "--metering"]) == 2
    err = capsys.readouterr().err
    assert "metering.sqlite cannot be read" in err and "Traceback" not in err

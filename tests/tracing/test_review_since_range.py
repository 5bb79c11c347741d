"""A --since/--until date the platform's clock cannot hold (year 1) is the option's one clear
error, not a traceback (commands/traces.py parse_when; `traces list` and `monitor` share it)."""

from __future__ import annotations

from datetime import datetime

import pytest

from promptwise.cli import UserError, main
from promptwise.commands.traces import parse_when

NOW = 1_765_000_000.0


@pytest.mark.parametrize("written", ["0001-01-01", "0001-01-01T00:00", "9999-12-31T23:59:59"])
def test_dates_past_the_clock_are_refused_by_name(written):
    try:
        assert parse_when(written, "--since", NOW) > 0  # a platform that holds it: a time
    except UserError as error:
        assert str(error).startswith(f"--since {written!r}: ")


def _clock_holds_year_one() -> bool:
    try:
        datetime(1, 1, 1).timestamp()
    except (ValueError, OverflowError, OSError):
        return False
    return True


def test_year_one_through_the_command(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["traces", "list", "--since", "0001-01-01"])
    captured = capsys.readouterr()
    if _clock_holds_year_one():
        assert code == 0
    else:  # here (Linux, glibc): ValueError 'year 0 is out of range' was a traceback
        assert code == 2 and "--since '0001-01-01'" in captured.err
    assert "Traceback" not in captured.err

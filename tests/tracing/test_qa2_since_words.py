"""`--since` / `--until` in the words users type (traces list and monitor share parse_when):
`2 hours ago`, `90 minutes`, `today`, `yesterday`, `now`, a time today (14:30). Before, each of
these was refused. Wrong words still get one error naming the option and the forms taken."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from promptwise.cli import UserError, main
from promptwise.commands.traces import parse_when
from test_qa_serve_trace_filters import old_and_new  # noqa: F401 - the fixture: `old` 3 days back, `new` now

# A fixed "now" in local time: 2026-12-07 15:20:30.
NOW = datetime(2026, 12, 7, 15, 20, 30).timestamp()


def _at(*parts: int) -> int:
    return int(datetime(*parts).timestamp() * 1e9)


@pytest.mark.parametrize(("written", "expected"), [
    ("2 hours ago", _at(2026, 12, 7, 13, 20, 30)),
    ("2h ago", _at(2026, 12, 7, 13, 20, 30)),
    ("90 minutes", _at(2026, 12, 7, 13, 50, 30)),
    ("1 hr", _at(2026, 12, 7, 14, 20, 30)),
    ("30 sec ago", _at(2026, 12, 7, 15, 20, 0)),
    ("1 week ago", _at(2026, 11, 30, 15, 20, 30)),
    ("3 Days Ago", _at(2026, 12, 4, 15, 20, 30)),
    ("today", _at(2026, 12, 7)),
    ("Yesterday", _at(2026, 12, 6)),
    ("now", int(NOW * 1e9)),
    ("14:30", _at(2026, 12, 7, 14, 30)),
    ("9:05", _at(2026, 12, 7, 9, 5)),
    ("08:15:20", _at(2026, 12, 7, 8, 15, 20)),
    ("15m", _at(2026, 12, 7, 15, 5, 30)),  # the short forms as before
    ("2026-12-01T10:00", _at(2026, 12, 1, 10)),
])
def test_the_words_users_type(written, expected):
    assert parse_when(written, "--since", NOW) == expected


@pytest.mark.parametrize("written", ["25:00", "12:61", "tomorrowish", "1y", "5 parsecs ago", "ago", ""])
def test_other_words_get_one_error_naming_the_option_and_the_forms(written):
    with pytest.raises(UserError) as raised:
        parse_when(written, "--until", NOW)
    message = str(raised.value)
    assert message.startswith(f"--until {written!r}:")
    for form in ("2 hours ago", "14:30", "yesterday", "2026-12-07"):
        assert form in message


def test_traces_list_since_yesterday_and_hours_ago(old_and_new, capsys):
    """Through the command: the trace of 3 days ago is before `yesterday` and `48 hours ago`."""
    for written in ("yesterday", "48 hours ago"):
        assert main(["traces", "list", "--since", written, "--format", "json"]) == 0
        assert [t["run_id"] for t in json.loads(capsys.readouterr().out)] == ["new"], written
    assert main(["traces", "list", "--since", "1 week ago", "--until", "yesterday", "--format", "json"]) == 0
    assert [t["run_id"] for t in json.loads(capsys.readouterr().out)] == ["old"]
    assert main(["traces", "list", "--since", "in a bit"]) == 2
    assert "--since 'in a bit'" in capsys.readouterr().err


def test_a_run_with_no_traces_is_explained(old_and_new, capsys):
    """`traces list --run` that finds nothing says whether the run exists, and which was meant."""
    assert main(["traces", "list", "--run", "nwe"]) == 0
    assert "no run named nwe; did you mean new?" in capsys.readouterr().out
    assert main(["traces", "list", "--run", "new", "--until", "1 week ago"]) == 0
    assert "run new has no traces between --since and --until" in capsys.readouterr().out


def test_a_row_without_its_run_says_so(old_and_new, capsys):
    assert main(["traces", "show", "--row", "2"]) == 2
    assert "--row goes with --run NAME" in capsys.readouterr().err

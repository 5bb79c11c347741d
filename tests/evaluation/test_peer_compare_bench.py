"""benchmarks/peer_compare.py's own helpers: its options, the workload's expected pass count and
the reading of strace's connect lines (the figures themselves are printed by the script, not tested)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "peer_compare.py"


@pytest.fixture(scope="module")
def peer_compare():
    spec = importlib.util.spec_from_file_location("peer_compare", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_lists_the_peer_options():
    done = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for option in ("--promptfoo", "--pf", "--concurrency", "--check-network"):
        assert option in done.stdout


@pytest.mark.parametrize("option", ["--rows", "--concurrency", "--repeat", "--startup-runs"])
def test_non_positive_counts_are_refused(peer_compare, option):
    with pytest.raises(SystemExit) as exit_:
        peer_compare.parse_args([option, "0"])
    assert exit_.value.code == 2


def test_the_scripted_model_gets_exactly_the_expected_rows_right(peer_compare):
    """The table's "passed (expected N)" holds: the endpoint's rules (first match wins, as the fake
    server matches: case-insensitive, dot-all) label every row right but the tricky tenth."""
    rules = [(re.compile(pattern, re.IGNORECASE | re.DOTALL), reply) for pattern, reply in peer_compare.RULES]
    rows = peer_compare.ticket_rows(1000)
    right = sum(next(reply for pattern, reply in rules if pattern.search(f"Ticket: {ticket}")) == expected
                for ticket, expected in rows)
    assert right == peer_compare.expected_passes(1000) == 900
    assert {expected for _, expected in rows} == {"billing", "access", "outage", "other"}


def test_connect_lines_are_sorted_by_where_they_went(peer_compare, tmp_path):
    (tmp_path / "trace.101").write_text(
        'connect(5, {sa_family=AF_INET, sin_port=htons(41000), sin_addr=inet_addr("127.0.0.1")}, 16) = 0\n'
        'connect(6, {sa_family=AF_INET, sin_port=htons(41000), sin_addr=inet_addr("127.0.0.1")}, 16) = 0\n'
        'connect(7, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED\n')
    (tmp_path / "trace.102").write_text(
        'connect(3, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.53")}, 16) = 0\n'
        'connect(4, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "2606:4700::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH\n'
        'connect(8, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT\n')
    found = peer_compare.connections(tmp_path, 41000)
    assert found == {"endpoint": 2, "blocked": 1, "dns": 1, "other": ["2606:4700::1:443"]}

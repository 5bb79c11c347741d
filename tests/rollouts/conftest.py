"""A workspace with three packaged versions of one flow whose prompts differ (ALPHA, BETA,
GAMMA), so the fake model's echo says which version answered."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))  # serving_process: the real server helper

from promptwise.devtools.fake_openai import FakeOpenAI  # noqa: E402
from serving_process import write_workspace  # noqa: E402

from rollout_helpers import FLOW, package_versions  # noqa: E402


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def packaged(tmp_path_factory, fake):
    root = write_workspace(tmp_path_factory.mktemp("rollouts"), fake.base_url, FLOW)
    (root / ".git").mkdir()  # the workspace's boundary
    package_versions(root)
    return root


@pytest.fixture
def workspace(packaged, tmp_path):
    """A copy of the packaged workspace (v1..v3 of triage), without any rollout yet."""
    root = tmp_path / "ws"
    shutil.copytree(packaged, root, ignore=shutil.ignore_patterns("rollouts", "serve-*.log"))
    return root

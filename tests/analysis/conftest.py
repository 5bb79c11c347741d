"""Fixtures for analysis tests."""

from __future__ import annotations

import pytest

from analysis_helpers import Project


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path)

"""Fixtures for the example-flow and corpus tests: paths, and loading tool files through our shim."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest



def load_tool_module(path: Path):
    """Import a flow's Python tool file the way the engine does: promptflow comes from our shim."""
    from promptwise.engine.shim import install

    install()
    name = f"_flowtest_{path.parent.name.replace('-', '_')}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tool_module():
    return load_tool_module

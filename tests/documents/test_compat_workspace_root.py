"""Settings discovery does not stop at a run store (issue 9 part 2): a failed first run leaves
`.promptwise/` in the flow's folder, and a promptwise.yaml added higher up must still be found."""

from __future__ import annotations

import pytest

from promptwise.config import find_workspace_root


@pytest.mark.parametrize(
    ("made", "flow", "root"),
    [
        pytest.param(["promptwise.yaml", "app/flow/.promptwise/"], "app/flow", "", id="settings-above-a-run-store"),
        pytest.param(["app/flow/.promptwise/"], "app/flow", "app/flow", id="run-store-without-settings"),
        pytest.param([".git/", "app/promptwise.yaml", "app/flow/.promptwise/"], "app/flow", "app",
                     id="nearest-settings-inside-the-repository"),
        pytest.param(["promptwise.yaml", "repo/.git/", "repo/flow/x"], "repo/flow", "repo",
                     id="settings-above-the-repository-are-not-its-own"),
        pytest.param(["pyproject-tool", "app/flow/.promptwise/"], "app/flow", "", id="pyproject-table-above-a-run-store"),
        pytest.param(["app/flow/x"], "app/flow", "app/flow", id="nothing-marks-a-workspace"),
    ],
)
def test_workspace_root(tmp_path, made, flow, root):
    base = tmp_path / "w"
    for item in made:
        if item == "pyproject-tool":
            (base / "pyproject.toml").parent.mkdir(parents=True, exist_ok=True)
            (base / "pyproject.toml").write_text("[tool.promptwise]\ndefaults = {model = 'gpt-4o-mini'}\n")
        elif item.endswith("/"):
            (base / item).mkdir(parents=True, exist_ok=True)
        else:
            (base / item).parent.mkdir(parents=True, exist_ok=True)
            (base / item).write_text("defaults: {}\n" if item.endswith(".yaml") else "", encoding="utf-8")
    (base / flow).mkdir(parents=True, exist_ok=True)
    assert find_workspace_root(base / flow) == (base / root).resolve()

"""The workspace settings loader: a malformed promptwise.yaml or [tool.promptwise] is a
ConfigError naming the file and line, never a traceback."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptwise.config import ConfigError, load_workspace


def _load(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return load_workspace(tmp_path)


def test_good_settings_are_read(tmp_path):
    workspace = _load(tmp_path, "promptwise.yaml", "defaults:\n  model: gpt-4o-mini\nmodels: {}\n")
    assert workspace.settings == {"defaults": {"model": "gpt-4o-mini"}, "models": {}}
    assert workspace.source == tmp_path / "promptwise.yaml"
    assert workspace.section("models") == {}


@pytest.mark.parametrize(
    "content, where, what",
    [
        # The wording of a syntax error is PyYAML's (it changed in 6.0.4): assert only ours.
        pytest.param("a: " + "[" * 5000 + "]" * 5000 + "\n", ":1:", "invalid YAML", id="deep-nesting"),
        pytest.param("defaults:\n  model: x\n\tconnection: y\n", ":3:1:", "invalid YAML", id="tab"),
        pytest.param("a: &a [1]\nb: *c\n", ":2:4:", "invalid YAML", id="bad-alias"),
        pytest.param("defaults: [1\n", ":2:1:", "invalid YAML", id="unclosed"),
        pytest.param("x: 1\n---\ny: 2\n", ":2:1:", "more than one YAML document", id="two-documents"),
        pytest.param("x: 1\nreleased: 2024-13-45\n", ":2:11:", "put quotes around values meant as text", id="impossible-date"),
        pytest.param("x: !!python/object:os.system 1\n", ":1:4:", "invalid YAML", id="python-tag"),
        pytest.param("- a\n- b\n", ":1:1:", "must be a mapping of sections", id="list"),
        pytest.param(b"models:\n  m: \xff\xfe\n", ":1:", "not valid UTF-8", id="invalid-utf8"),
        pytest.param(b"\x00\x01binary", ":1:", "binary file", id="binary"),
    ],
)
def test_malformed_settings_give_a_clear_error(tmp_path, content, where, what):
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, "promptwise.yaml", content)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'promptwise.yaml'}{where}"), message
    assert what in message


def test_a_section_of_the_wrong_shape_names_its_line(tmp_path):
    workspace = _load(tmp_path, "promptwise.yaml", "defaults: {}\n\nmodels: [a, b]\n")
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'promptwise.yaml'}:3: `models` must be a mapping")):
        workspace.section("models")


def test_pyproject_table(tmp_path):
    workspace = _load(tmp_path, "pyproject.toml", '[tool.promptwise]\ndefaults = { model = "gpt-4o" }\n')
    assert workspace.settings == {"defaults": {"model": "gpt-4o"}}


@pytest.mark.parametrize(
    "content, where",
    [
        pytest.param('[tool.promptwise]\ndefaults = { model = \n', ":2:", id="syntax"),
        pytest.param('[tool]\npromptwise = 3\n', "", id="not-a-table"),
    ],
)
def test_malformed_pyproject_gives_a_clear_error(tmp_path, content, where):
    (tmp_path / ".git").mkdir()  # the workspace root even when pyproject.toml cannot be read
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, "pyproject.toml", content)
    assert str(error.value).startswith(f"{tmp_path / 'pyproject.toml'}{where}")


def test_pyproject_with_a_non_table_tool_key_is_not_a_workspace_marker(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "pyproject.toml").write_text("tool = 1\n")
    assert load_workspace(tmp_path / "sub").root == tmp_path / "sub"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list("ab:- \n\t[]{}&*!|>'\"#%@`,?0")), max_size=80))
def test_any_text_loads_or_raises_config_error(tmp_path, text):
    try:
        workspace = _load(tmp_path, "promptwise.yaml", text)
    except ConfigError as error:
        assert str(error).startswith(str(tmp_path / "promptwise.yaml"))
        return
    assert isinstance(workspace.settings, dict)
    for name in list(workspace.settings)[:3]:
        try:
            workspace.section(str(name))
        except ConfigError as error:
            assert str(tmp_path / "promptwise.yaml") in str(error)

"""YAML aliases cannot make a file endless or huge: a collection that contains an alias to
itself, a "billion laughs" bomb and aliases that nest past the depth limit are refused with a
YamlError at the alias, quickly; ordinary anchors still work."""

from __future__ import annotations

import pytest

from promptwise.documents.yaml_nodes import MAX_ALIAS_EXPANSION, parse_yaml, to_python


def _laughs(levels: int, width: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


REFUSED = [
    ("recursive mapping", "x: &s {a: *s, b: *s, c: *s}\n", 0),
    ("recursive sequence", "x: &s [1, *s]\n", 0),
    ("recursive through a child", "x: &s\n  child:\n    back: *s\n", 2),
    ("billion laughs", _laughs(9), 5),
    ("wide laughs", _laughs(3, width=400), 1),
    ("alias chain past the depth limit", "".join(f"a{i}: &a{i} [{f'*a{i - 1}' if i else 'x'}]\n" for i in range(80)), 63),
]


@pytest.mark.parametrize("text,line", [(t, line) for _, t, line in REFUSED], ids=[n for n, _, _ in REFUSED])
def test_alias_bombs_are_refused_at_the_alias(text, line):
    document = parse_yaml(text)
    assert len(document.errors) == 1
    assert document.errors[0].range.start.line == line
    assert "alias" in document.errors[0].message


def test_front_matter_offset_moves_the_refusal():
    document = parse_yaml("x: &s {a: *s}\n", line_offset=3)
    assert document.errors[0].range.start.line == 3


def test_ordinary_anchors_and_aliases_still_work():
    text = "base: &base {temperature: 0.2, stop: [a, b]}\nn1: *base\nn2: *base\nname: &n hi\nk: *n\n"
    document = parse_yaml(text)
    assert document.errors == []
    assert to_python(document.root) == {
        "base": {"temperature": 0.2, "stop": ["a", "b"]},
        "n1": {"temperature": 0.2, "stop": ["a", "b"]},
        "n2": {"temperature": 0.2, "stop": ["a", "b"]},
        "name": "hi",
        "k": "hi",
    }


def test_expansion_just_under_the_bound_is_accepted():
    # one anchor of a sequence with 999 items, aliased 99 times: 99 * 1000 nodes < the bound
    items = ", ".join(["x"] * 999)
    text = f"a: &a [{items}]\n" + "".join(f"b{i}: *a\n" for i in range(99))
    assert 99 * 1000 <= MAX_ALIAS_EXPANSION
    assert parse_yaml(text).errors == []

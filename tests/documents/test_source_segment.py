"""documents/python_tool.source_segment gives what `ast.get_source_segment` gives, for every node."""

from __future__ import annotations

import ast

import pytest

from promptwise.documents.python_tool import source_segment

SOURCES = {
    "plain": "from promptflow.core import tool\n\n\n@tool\ndef f(a: int = 1, *b: str, c: 'x' = None) -> dict[str, int]:\n"
             "    return {'a': a}\n",
    "crlf and cr": "x = 1\r\ny: list[\r\n    int\r\n] = [1,\r\n  2]\rz = 3",
    "non-ascii": "def grüße(name: 'Zoë' = 'née', *, ünïcode: str = '😀') -> 'é':\n    return f'{name} ☃'\n",
    "form feed kept in a line": "a = 1\x0c\nb = (2,\x0c 3)\n",
    "no final newline": "def g(\n    x: int,\n    y: 'two\\nlines' = (\n        1, 2),\n) -> None: pass",
    "empty lines and comments": "\n\n# c\nclass K(Base, metaclass=M):\n\n    def m(self, v=[1,\n        2]): ...\n",
}


@pytest.mark.parametrize("name", SOURCES)
def test_every_node_segment_is_asts(name):
    text = SOURCES[name]
    nodes = [node for node in ast.walk(ast.parse(text)) if hasattr(node, "lineno")]
    assert len(nodes) > 5
    for node in nodes:
        assert source_segment(text, node) == ast.get_source_segment(text, node), ast.dump(node)


def test_a_node_without_a_position_has_no_segment():
    assert source_segment("x = 1\n", ast.Name(id="x")) is None

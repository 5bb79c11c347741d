"""The context-window check reserves output tokens only for a max_tokens the request sets
(issue 9 part 2): without one the API lets the answer use what the prompt leaves, as Prompt
flow sends no max_tokens then."""

from __future__ import annotations

import pytest

from promptwise.analysis import analyze

SETTINGS = ("models:\n  tiny: {tokenizer: o200k_base, context_window: 300, max_output: 250, "
            "input_per_1m: 1, output_per_1m: 1}\n")


def _prompty(parameters: str, words: int) -> str:
    return ("---\nmodel:\n  api: chat\n  configuration: {type: openai, model: tiny}\n"
            f"  parameters: {{{parameters}}}\ninputs:\n  q: {{type: string, default: hi}}\n---\n"
            "system:\n" + "apple " * words + "\nuser:\n{{q}}\n")


@pytest.mark.parametrize(
    ("parameters", "words", "expected"),
    [
        pytest.param("temperature: 0", 100, [], id="unset-max-tokens-reserves-nothing"),
        pytest.param("max_tokens: 250", 100, ["plus max output"], id="set-max-tokens-is-reserved"),
        pytest.param("temperature: 0", 400, ["the prompt is"], id="unset-max-tokens-prompt-alone-too-long"),
    ],
)
def test_context_window_reserves_only_a_set_max_tokens(tmp_path, parameters, words, expected):
    (tmp_path / "promptwise.yaml").write_text(SETTINGS, encoding="utf-8")
    path = tmp_path / "p.prompty"
    path.write_text(_prompty(parameters, words), encoding="utf-8")
    found = [p.message for p in analyze(path) if p.code == "PW701"]
    assert len(found) == len(expected)
    for message, fragment in zip(found, expected):
        assert fragment in message

"""Fine-tuned model names (`ft:BASE:ORG:SUFFIX:ID`, what `finetune status` prints) are found in the
catalog and priced at the base entry's fine-tuned inference prices, so a fine-tuned model can be
put in a variant, checked and compared with `eval --models` (issue 13 §5 -> §3). Before, every
such name was "not in the model catalog" and `eval --models` refused it."""

from __future__ import annotations

import pytest

from promptwise.config import load_workspace
from promptwise.costing.catalog import catalog_for, load_catalog


@pytest.mark.parametrize("name, base, price_in, price_out", [
    ("ft:gpt-4o-mini-2024-07-18:acme:triage:AbC123", "gpt-4o-mini", 0.3, 1.2),
    ("ft:gpt-4o-2024-08-06:acme::xyz", "gpt-4o", 3.75, 15.0),
    ("ft:gpt-4.1-mini-2025-04-14:acme:v2:9z", "gpt-4.1-mini", 0.8, 3.2),
    ("ft:gpt-3.5-turbo-0125:acme::1", "gpt-3.5-turbo", 3.0, 6.0),
])
def test_fine_tuned_names_are_priced_above_their_base(name, base, price_in, price_out):
    catalog = load_catalog()
    match = catalog.lookup(name)
    assert match is not None, name
    plain = catalog.lookup(base).model
    assert (match.model.input_per_1m, match.model.output_per_1m) == (price_in, price_out)
    assert match.model.input_per_1m > plain.input_per_1m  # never the base model's lower price
    assert (match.model.context_window, match.model.tokenizer) == (plain.context_window, plain.tokenizer)
    assert match.model.name == f"ft:{base}" and match.how.startswith("fine-tuned from ")


@pytest.mark.parametrize("name", [
    "ft:no-such-model:acme::1",   # unknown base
    "ft:gpt-4-turbo:acme::1",     # base known, but no fine-tuned prices recorded: unpriced, not underpriced
    "ft:",
    "ft:ft:gpt-4o-mini:x",
])
def test_fine_tuned_names_without_a_price_are_not_found(name):
    assert load_catalog().lookup(name) is None


def test_a_workspace_entry_for_the_exact_fine_tuned_name_wins(tmp_path):
    name = "ft:gpt-4o-mini-2024-07-18:acme:triage:AbC123"
    (tmp_path / "promptwise.yaml").write_text(
        f"models:\n  '{name}': {{context_window: 128000, max_output: 16384, input_per_1m: 0.5, output_per_1m: 2.0}}\n")
    match = catalog_for(load_workspace(tmp_path)).lookup(name)
    assert (match.model.input_per_1m, match.model.output_per_1m, match.how) == (0.5, 2.0, "exact")

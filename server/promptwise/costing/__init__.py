"""Tokens and cost: offline tokenizers, the model catalog, estimates.

Modules, one job each:
- `tokenizers`   offline tiktoken encodings (o200k_base, cl100k_base), hash-checked
- `counting`     chat request counting (OpenAI's cookbook rule, tools, response_format)
- `catalog`      the dated model catalog + workspace overrides; `catalog_for(workspace)`
- `calls`        one planned call -> tokens, output bound, cost; shared number formatting
- `flow_calls`   the requests a flow.dag.yaml's llm nodes make for one input row
- `estimate`     per-document estimate for the editor: lenses, hovers, totals, PW7xx
- `checker`      PW7xx for the analysis (`check(document, context)`, `register()`)
- `preflight`    `promptwise estimate` over a dataset; `estimate_target(...)`
- `python_inputs` running pre-model python nodes for `estimate --run-python`
- `dataset_rows` reading .jsonl/.json/.csv rows, naming bad rows by file and line
- `litellm_import` importing LiteLLM price files into promptwise.yaml

Entry points other areas call (import from the modules; nothing is re-exported here, so
importing `promptwise.costing` stays cheap and free of import cycles):
  catalog.catalog_for(workspace, path=None) -> Catalog; Catalog.lookup(name, azure=False) -> ModelMatch | None;
                             Catalog.suggest(name) -> list[str]   (did-you-mean over models and deployments)
  estimate.estimate_document(document, workspace, *, catalog=None, overlay=None, default_model=None,
                             variants=None) -> DocumentEstimate   (.items[i].lens_text/.hover_text/.range,
                             .lens_text/.range for the flow, .totals() for promptwise/documentTotals)
  preflight.estimate_target(target, *, data=None, variants=None, model=None, catalog_file=None,
                            column_mapping=None)
                             -> Preflight   (.to_json() is `promptwise estimate --format json`;
                             .errors() non-empty -> the CLI exits 1)
  checker.check(document, context=None) -> list[Problem]; checker.register()
  counting.count_text(text, encoding), counting.count_chat(messages, encoding, tools=, response_format=),
  counting.chat_token_bound(...) (same arguments; an upper bound from UTF-8 bytes, no tokenizer)
"""

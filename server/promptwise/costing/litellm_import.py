"""Importing a LiteLLM `model_prices_and_context_window.json` into a workspace's settings.

LiteLLM's format: one object per model with `input_cost_per_token`,
`output_cost_per_token`, `cache_read_input_token_cost` (US dollars per token),
`max_input_tokens`, `max_output_tokens`, legacy `max_tokens`, `litellm_provider` and
`mode`. We take the chat (and completion) entries that have both prices, convert prices to
per-1M figures and write them under `models:` in `promptwise.yaml`.

The settings file is edited as text, not re-dumped, so the user's comments and layout
survive: new entries are inserted at the end of the existing `models:` block (or a block is
appended). Entries the workspace already sets are left alone and reported.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from promptwise.config import SETTINGS_FILE, ConfigError, WorkspaceConfig
from promptwise.costing.catalog import Catalog

_CHAT_MODES = {None, "chat", "completion", "responses"}
_O200K = re.compile(r"(^|/)(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss)")
_CL100K = re.compile(r"(^|/)(gpt-4|gpt-3\.5|gpt-35)")


def guess_tokenizer(name: str) -> str:
    """The tokenizer a LiteLLM entry's model uses, when its name says so; else `unknown`
    (counted with the stated fallback and a warning)."""
    lowered = name.lower()
    if _O200K.search(lowered):
        return "o200k_base"
    if _CL100K.search(lowered):
        return "cl100k_base"
    return "unknown"


def _per_1m(value) -> float:
    return round(float(value) * 1_000_000, 6)


@dataclass
class ImportPlan:
    added: dict[str, dict] = field(default_factory=dict)  # name -> our fields
    kept: list[str] = field(default_factory=list)  # already set in the workspace
    same_as_catalog: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not chat, or missing prices/limits
    reasons: dict[str, str] = field(default_factory=dict)  # skipped name -> why

    def skipped_summary(self, limit: int = 5) -> str:
        """`gpt-x: no output_cost_per_token; y: ...` for the first few skipped entries."""
        shown = [f"{name}: {self.reasons.get(name, 'skipped')}" for name in self.skipped[:limit]]
        more = len(self.skipped) - limit
        return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def read_litellm_file(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read ({error}); give the path of a LiteLLM price file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}:{error.lineno}: invalid JSON ({error.msg}); "
                          "expected LiteLLM's model_prices_and_context_window.json format") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the file is a JSON {type(data).__name__}; expected a JSON object of models by "
                          "name, as in LiteLLM's model_prices_and_context_window.json")
    if isinstance(data.get("models"), dict) and "as_of" in data:
        raise ConfigError(f"{path}: this is a Promptwise model catalog, not a LiteLLM price file; use it with "
                          f"`--catalog {path}` instead of importing it")
    return data


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def skip_reason(name: str, entry) -> str | None:
    """Why a LiteLLM entry cannot be imported (what is missing or wrong), or None."""
    if not isinstance(entry, dict):
        return f"the entry is a JSON {type(entry).__name__}, not an object of prices and limits"
    if entry.get("mode") not in _CHAT_MODES:
        return f"mode {entry.get('mode')!r} is not a chat model"
    problems = []
    for key in ("input_cost_per_token", "output_cost_per_token"):
        if key not in entry:
            problems.append(f"no {key}")
        elif not _is_number(entry[key]):
            problems.append(f"{key} {entry[key]!r} is not a number")
    if not any(_is_number(entry.get(key)) and entry.get(key) > 0 for key in ("max_input_tokens", "max_tokens")):
        problems.append("no max_input_tokens or max_tokens (the context window)")
    return "; ".join(problems) or None


def convert_entry(name: str, entry: dict) -> dict | None:
    """Our `models:` fields for one LiteLLM entry, or None when it cannot be priced."""
    if skip_reason(name, entry) is not None:
        return None
    input_cost, output_cost = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    context = entry.get("max_input_tokens") or entry.get("max_tokens")
    max_output = entry.get("max_output_tokens") or entry.get("max_tokens") or context
    if not all(_is_number(v) for v in (input_cost, output_cost, context, max_output)):
        return None
    fields = {
        "provider": str(entry.get("litellm_provider") or "openai_compatible"),
        "tokenizer": guess_tokenizer(name),
        "context_window": int(context),
        "max_output": int(min(max_output, context)),
        "input_per_1m": _per_1m(input_cost),
        "output_per_1m": _per_1m(output_cost),
    }
    cached = entry.get("cache_read_input_token_cost")
    if isinstance(cached, (int, float)) and not isinstance(cached, bool):
        fields["cached_input_per_1m"] = _per_1m(cached)
    return fields


def plan_import(data: dict, workspace: WorkspaceConfig, catalog: Catalog, only: str = "*") -> ImportPlan:
    plan = ImportPlan()
    existing = workspace.section("models")
    for name, entry in data.items():
        if name == "sample_spec" or not fnmatch.fnmatchcase(name, only):
            continue
        fields = convert_entry(name, entry)
        if fields is None:
            plan.skipped.append(name)
            plan.reasons[name] = skip_reason(name, entry) or "max_output_tokens is not a number"
        elif name in existing:
            plan.kept.append(name)
        elif _same_as_catalog(catalog, name, fields):
            plan.same_as_catalog.append(name)
        else:
            plan.added[name] = fields
    return plan


def _same_as_catalog(catalog: Catalog, name: str, fields: dict) -> bool:
    model = catalog.get(name)
    if model is None:
        return False
    return (model.input_per_1m, model.output_per_1m, model.cached_input_per_1m, model.context_window) == (
        fields["input_per_1m"], fields["output_per_1m"], fields.get("cached_input_per_1m"), fields["context_window"])


def _flow_mapping(fields: dict) -> str:
    return yaml.safe_dump(fields, default_flow_style=True, sort_keys=False, width=10_000).strip()


def _entry_lines(added: dict[str, dict], indent: str) -> list[str]:
    return [f"{indent}{yaml.safe_dump(name, default_style=None).strip().removesuffix('...').strip()}: "
            f"{_flow_mapping(fields)}" for name, fields in added.items()]


def apply_import(plan: ImportPlan, workspace: WorkspaceConfig) -> Path:
    """Write the plan's entries under `models:` in the workspace's promptwise.yaml."""
    path = workspace.source if workspace.source and workspace.source.name == SETTINGS_FILE \
        else workspace.root / SETTINGS_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    models_node = None
    if text.strip():
        root = yaml.compose(text)
        if isinstance(root, yaml.MappingNode):
            for key, value in root.value:
                if key.value == "models":
                    models_node = (key, value)
    if models_node is None:
        lines += ["models:"] + _entry_lines(plan.added, "  ")
    else:
        key, value = models_node
        if isinstance(value, yaml.MappingNode) and value.value and not value.flow_style:
            indent = " " * value.value[0][0].start_mark.column
            end_line = value.end_mark.line  # 0-based line after the block's last content
            if value.end_mark.column > 0:
                end_line += 1
            # Insert after the block's last non-blank line, so trailing blank lines stay put.
            while end_line > key.start_mark.line + 1 and not lines[end_line - 1].strip():
                end_line -= 1
            lines[end_line:end_line] = _entry_lines(plan.added, indent)
        elif isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null"):
            line = key.start_mark.line
            lines[line] = lines[line][: key.start_mark.column] + "models:"
            lines[line + 1:line + 1] = _entry_lines(plan.added, " " * (key.start_mark.column + 2))
        else:
            raise ConfigError(
                f"{path}:{key.start_mark.line + 1}: `models:` is written in flow style or is not a mapping; "
                "rewrite it as a block (one model per line) and import again")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

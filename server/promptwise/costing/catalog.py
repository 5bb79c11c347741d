"""The model catalog: tokenizer, context window, output cap and prices for each model.

The shipped catalog is `costing/catalog.json`, dated by its `as_of` field. A workspace's
settings (`promptwise.yaml` or `[tool.promptwise]`) can add to it:

```yaml
models:          # own prices for a catalog model, or extra models
  gpt-4o: {input_per_1m: 2.0}
  my-llama: {tokenizer: llama3, context_window: 131072, max_output: 8192,
             input_per_1m: 0.1, output_per_1m: 0.2}
deployments:     # Azure deployment name -> model
  prod-chat: gpt-4o
```

Every `ModelInfo` carries where its figures came from (`origin`: the catalog and its date,
or the settings file and line), so each figure on screen can name its source.

Name lookup (`Catalog.lookup`), in order: a workspace deployment name; for Azure
connections the `azure/` entry; the exact name; the name without an `openai/` prefix; the
one entry whose name ends in `/<name>` (so `meta-llama/Llama-3.3-70B-Instruct-Turbo` finds
the together_ai entry); and finally the same steps for a dated snapshot's base name
(`gpt-4o-2024-08-06` -> `gpt-4o`), which the match reports as such. A fine-tuned model's name,
`ft:BASE:ORG:SUFFIX:ID` as OpenAI gives it, finds BASE and is priced at the entry's fine-tuned
inference prices (`finetuned_*_per_1m`), where the catalog has them.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from promptwise.config import ConfigError, WorkspaceConfig
from promptwise.costing.tokenizers import SHIPPED_ENCODINGS

CATALOG_PATH = Path(__file__).with_name("catalog.json")

# What we count with when a model's tokenizer is not one we ship (always stated in a warning).
FALLBACK_ENCODING = "o200k_base"

_SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    provider: str
    tokenizer: str
    context_window: int
    max_output: int
    input_per_1m: float
    output_per_1m: float
    cached_input_per_1m: float | None = None  # None: no cached-input discount
    max_input: int | None = None  # a separate cap on input alone, where the provider has one
    finetune_training_per_1m: float | None = None  # fine-tuning training price per 1M tokens, where published
    # What calls to a model fine-tuned from this one cost (OpenAI bills them above the base model)
    finetuned_input_per_1m: float | None = None
    finetuned_cached_input_per_1m: float | None = None
    finetuned_output_per_1m: float | None = None
    family: str = "chat"
    origin: str = ""  # e.g. "catalog 2026-11-21" or "promptwise.yaml:12"
    source: str = ""  # where the catalog took the figures from

    @property
    def exact_tokenizer(self) -> bool:
        return self.tokenizer in SHIPPED_ENCODINGS

    @property
    def counting_encoding(self) -> str:
        """The encoding we count with: the model's own, or the stated fallback."""
        return self.tokenizer if self.exact_tokenizer else FALLBACK_ENCODING

    @property
    def input_limit(self) -> int:
        return min(self.context_window, self.max_input or self.context_window)

    def tokenizer_warning(self) -> str | None:
        if self.exact_tokenizer:
            return None
        return (f"model {self.name} uses the {self.tokenizer} tokenizer, which Promptwise does not ship; "
                f"its tokens are counted with {FALLBACK_ENCODING} and are approximate")

    def cost(self, input_tokens: float, output_tokens: float, cached_input_tokens: float = 0) -> float:
        """US dollars for the given token counts."""
        cached_price = self.cached_input_per_1m if self.cached_input_per_1m is not None else self.input_per_1m
        uncached = max(0.0, input_tokens - cached_input_tokens)
        return (uncached * self.input_per_1m + cached_input_tokens * cached_price
                + output_tokens * self.output_per_1m) / 1_000_000

    def to_json(self) -> dict:
        return {
            "name": self.name, "provider": self.provider, "family": self.family,
            "tokenizer": self.tokenizer, "counting_encoding": self.counting_encoding,
            "exact_tokenizer": self.exact_tokenizer,
            "context_window": self.context_window, "max_input": self.max_input,
            "max_output": self.max_output, "input_per_1m": self.input_per_1m,
            "cached_input_per_1m": self.cached_input_per_1m, "output_per_1m": self.output_per_1m,
            "finetune_training_per_1m": self.finetune_training_per_1m,
            "finetuned_input_per_1m": self.finetuned_input_per_1m,
            "finetuned_cached_input_per_1m": self.finetuned_cached_input_per_1m,
            "finetuned_output_per_1m": self.finetuned_output_per_1m,
            "origin": self.origin, "source": self.source,
        }


@dataclass(frozen=True)
class ModelMatch:
    """A model name as written, the catalog entry it resolved to, and how."""

    requested: str
    model: ModelInfo
    how: str  # "exact", "deployment prod -> gpt-4o", "snapshot of gpt-4o", ...

    @property
    def label(self) -> str:
        """`gpt-4o (catalog 2026-11-21)`: the entry and where its figures came from."""
        return f"{self.model.name} ({self.model.origin})"


@lru_cache(maxsize=1)
def _fields_model():
    """The pydantic model of a catalog entry, built on first use, so that a start-up reading only
    the shipped catalog (`check`, the language server) does not import pydantic (_plain_fields)."""
    from pydantic import BaseModel, ConfigDict, Field

    class _ModelFields(BaseModel):
        """One entry of the shipped catalog or of a workspace `models:` section."""

        model_config = ConfigDict(extra="forbid")

        provider: str | None = None
        family: str | None = None
        tokenizer: str | None = None
        context_window: int | None = Field(default=None, gt=0)
        max_input: int | None = Field(default=None, gt=0)
        max_output: int | None = Field(default=None, gt=0)
        input_per_1m: float | None = Field(default=None, ge=0)
        cached_input_per_1m: float | None = Field(default=None, ge=0)
        output_per_1m: float | None = Field(default=None, ge=0)
        finetune_training_per_1m: float | None = Field(default=None, ge=0)
        finetuned_input_per_1m: float | None = Field(default=None, ge=0)
        finetuned_cached_input_per_1m: float | None = Field(default=None, ge=0)
        finetuned_output_per_1m: float | None = Field(default=None, ge=0)
        source: str | None = None

    return _ModelFields


# The fields of _ModelFields by kind, for _plain_fields (keep the two in step).
_TEXT_FIELDS = ("provider", "family", "tokenizer", "source")
_COUNT_FIELDS = ("context_window", "max_input", "max_output")  # > 0
_PRICE_FIELDS = ("input_per_1m", "cached_input_per_1m", "output_per_1m", "finetune_training_per_1m",
                 "finetuned_input_per_1m", "finetuned_cached_input_per_1m", "finetuned_output_per_1m")  # >= 0
_FINETUNED_PRICES = _PRICE_FIELDS[-3:]


def _plain_fields(raw: Any) -> dict | None:
    """An entry's fields as _fields_model() would give them (model_dump, no None), read without
    pydantic when every field is plainly right, as in the shipped catalog; None when anything
    needs pydantic (a value to coerce, or a mistake to explain)."""
    if not isinstance(raw, dict):
        return None
    fields = {}
    for key, value in raw.items():
        if key in _TEXT_FIELDS and (value is None or type(value) is str):
            pass
        elif key in _COUNT_FIELDS and (value is None or (type(value) is int and value > 0)):
            pass
        elif key in _PRICE_FIELDS and (value is None or (type(value) in (int, float) and math.isfinite(value)
                                                          and value >= 0)):
            value = None if value is None else float(value)
        else:
            return None
        if value is not None:
            fields[key] = value
    return fields


_REQUIRED_FOR_NEW = ("context_window", "max_output", "input_per_1m", "output_per_1m")


class Catalog:
    def __init__(self, models: dict[str, ModelInfo], as_of: str,
                 deployments: dict[str, str] | None = None, workspace_names: frozenset[str] = frozenset(),
                 key: str = ""):
        self.models = models
        self.as_of = as_of
        self.deployments = deployments or {}
        # Names the workspace defines or overrides: a deployment mapped to one of these
        # means that entry (with the user's prices), not the catalog's azure/ twin.
        self.workspace_names = workspace_names
        # Identifies the content (catalog file version + workspace overrides), so caches of
        # estimates can tell two equal catalogs from two different ones.
        self.key = key or f"models:{len(models)}:{as_of}"

    def __contains__(self, name: str) -> bool:
        return name in self.models

    def get(self, name: str) -> ModelInfo | None:
        return self.models.get(name)

    def lookup(self, name: str, *, azure: bool = False) -> ModelMatch | None:
        """The catalog entry for a model or deployment name, or None (see module docstring)."""
        name = name.strip() if isinstance(name, str) else ""  # `model: 3.5` is no model name
        if not name:
            return None
        target = self.deployments.get(name)
        if target is not None:
            found = self._lookup_model(target, azure=target not in self.workspace_names)
            if found is None:
                return None
            model, how = found
            return ModelMatch(name, model, f"deployment {name} -> {target}" + (f" ({how})" if how != "exact" else ""))
        found = self._lookup_model(name, azure=azure)
        if found is None:
            return None
        return ModelMatch(name, *found)

    def _lookup_model(self, name: str, *, azure: bool) -> tuple[ModelInfo, str] | None:
        if name.startswith("ft:") and name not in self.models:
            return self._lookup_finetuned(name, azure=azure)
        found = self._lookup_base(name, azure=azure)
        if found is not None:
            return found
        base = _SNAPSHOT_SUFFIX.sub("", name)
        if base != name:
            found = self._lookup_base(base, azure=azure)
            if found is not None:
                return found[0], f"snapshot of {found[0].name}"
        return None

    def _lookup_finetuned(self, name: str, *, azure: bool) -> tuple[ModelInfo, str] | None:
        """`ft:BASE:ORG:SUFFIX:ID`: BASE's tokenizer and limits at its fine-tuned inference prices;
        None when BASE is unknown or has no such prices (then it is not priced at all, rather than
        at the base model's lower prices)."""
        base = name.split(":")[1] if name.count(":") >= 1 else ""
        found = self._lookup_model(base, azure=azure) if base and base != name else None
        if found is None:
            return None
        model = found[0]
        if model.finetuned_input_per_1m is None or model.finetuned_output_per_1m is None:
            return None
        priced = replace(model, name=f"ft:{model.name}", input_per_1m=model.finetuned_input_per_1m,
                         cached_input_per_1m=model.finetuned_cached_input_per_1m,
                         output_per_1m=model.finetuned_output_per_1m)
        return priced, f"fine-tuned from {base}"

    def _lookup_base(self, name: str, *, azure: bool) -> tuple[ModelInfo, str] | None:
        candidates = []
        if azure and not name.startswith("azure/"):
            candidates.append(("azure/" + name.replace("gpt-3.5", "gpt-35"), "Azure entry"))
        candidates.append((name, "exact"))
        if name.startswith("openai/"):
            candidates.append((name.removeprefix("openai/"), "without openai/ prefix"))
        for candidate, how in candidates:
            if candidate in self.models:
                return self.models[candidate], how
        suffix_matches = [entry for entry in self.models if entry.endswith("/" + name)]
        if len(suffix_matches) == 1:
            return self.models[suffix_matches[0]], f"provider entry {suffix_matches[0]}"
        return None

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Catalog models and deployments whose names are close to `name` (for did-you-mean)."""
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            return []
        # Compared lower-cased, whole and without a provider prefix, so `gpt-4o-mimi` finds
        # `gpt-4o-mini` and `llama-3.3-70b-instruct` finds `groq/llama-3.3-70b-instruct`.
        keys: dict[str, str] = {}
        for full in list(self.models) + list(self.deployments):
            keys.setdefault(full.lower(), full)
        for full in list(self.models) + list(self.deployments):
            keys.setdefault(full.rsplit("/", 1)[-1].lower(), full)
        found: list[str] = []
        for wanted in dict.fromkeys((name.lower(), name.rsplit("/", 1)[-1].lower())):
            for close in difflib.get_close_matches(wanted, list(keys), n=limit, cutoff=0.75):
                if keys[close] not in found:
                    found.append(keys[close])
        return found[:limit]

    def with_workspace(self, workspace: WorkspaceConfig) -> "Catalog":
        """This catalog with the workspace's `models` and `deployments` sections applied.

        Raises ConfigError (file, line, what to do) for a malformed section."""
        models_section = workspace.section("models")
        deployments_section = workspace.section("deployments")
        if not models_section and not deployments_section:
            return self
        lines = _SettingsLines(workspace)
        models = dict(self.models)
        for name, raw in models_section.items():
            name = str(name)
            where = lines.where("models", name)
            fields = _validate_fields(raw, where, f"models.{name}")
            values = fields.model_dump(exclude_none=True)
            values.pop("source", None)
            origin = where
            existing = models.get(name)
            if existing is not None:
                models[name] = replace(existing, **values,
                                       origin=f"{existing.origin}, overridden by {origin}")
                continue
            missing = [key for key in _REQUIRED_FOR_NEW if key not in values]
            if missing:
                raise ConfigError(
                    f"{where}: model {name!r} is not in the catalog, so it needs {', '.join(missing)}; "
                    f"add them (prices are US dollars per 1M tokens)")
            models[name] = ModelInfo(
                name=name, provider=values.get("provider", "openai_compatible"),
                tokenizer=values.get("tokenizer", "unknown"), family=values.get("family", "chat"),
                context_window=values["context_window"], max_output=values["max_output"],
                max_input=values.get("max_input"), input_per_1m=values["input_per_1m"],
                cached_input_per_1m=values.get("cached_input_per_1m"),
                output_per_1m=values["output_per_1m"], finetune_training_per_1m=values.get("finetune_training_per_1m"),
                **{key: values.get(key) for key in _FINETUNED_PRICES},
                origin=origin, source="workspace settings")
        deployments = dict(self.deployments)
        for deployment, model in deployments_section.items():
            if not isinstance(model, str) or not model.strip():
                raise ConfigError(
                    f"{lines.where('deployments', str(deployment))}: deployment {deployment!r} must map to "
                    f"a model name, e.g. `{deployment}: gpt-4o`")
            deployments[str(deployment)] = model.strip()
        overrides = json.dumps([models_section, deployments_section], sort_keys=True, default=str)
        catalog = Catalog(models, self.as_of, deployments,
                          self.workspace_names | frozenset(str(name) for name in models_section),
                          key=f"{self.key}+{hashlib.sha1(overrides.encode()).hexdigest()}")
        for deployment, model in deployments.items():
            if catalog._lookup_model(model, azure=True) is None:
                raise ConfigError(
                    f"{lines.where('deployments', deployment)}: deployment {deployment!r} maps to {model!r}, "
                    f"which is not in the catalog; use a name from `promptwise models` or add it under `models:`")
        return catalog


def _validate_fields(raw: Any, where: str, label: str):
    from pydantic import ValidationError

    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: `{label}` must be a mapping of fields (input_per_1m, output_per_1m, ...)")
    model = _fields_model()
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field_name = ".".join(str(part) for part in first["loc"]) or label
        allowed = ", ".join(model.model_fields)
        hint = f"allowed fields: {allowed}" if first["type"] == "extra_forbidden" else "fix the value"
        raise ConfigError(f"{where}: `{label}.{field_name}`: {first['msg']}; {hint}") from None


class _SettingsLines:
    """Finds the line of `section.key` in a promptwise.yaml, for error messages and origins."""

    def __init__(self, workspace: WorkspaceConfig):
        self.source = workspace.source
        self._lines: dict[tuple[str, str], int] = {}
        if self.source is None or self.source.suffix not in (".yaml", ".yml"):
            return
        try:
            root = yaml.compose(self.source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return
        if not isinstance(root, yaml.MappingNode):
            return
        for section_key, section_value in root.value:
            if isinstance(section_value, yaml.MappingNode):
                for key_node, _ in section_value.value:
                    self._lines[(str(section_key.value), str(key_node.value))] = key_node.start_mark.line + 1

    def where(self, section: str, key: str) -> str:
        name = self.source.name if self.source else "settings"
        line = self._lines.get((section, key))
        return f"{self.source}:{line}" if line else str(self.source or name)


_REQUIRED_IN_CATALOG = ("tokenizer", "context_window", "max_output", "input_per_1m", "output_per_1m")
_CATALOG_SHAPE = ('a model catalog is a JSON object {"as_of": "YYYY-MM-DD", "models": {NAME: {tokenizer, '
                  'context_window, max_output, input_per_1m, output_per_1m, ...}}}')


def _entry_line(text: str, name: str) -> int | None:
    """1-based line where the catalog entry `name` starts (json keeps no positions)."""
    index = text.find(json.dumps(name) + ":")
    return text.count("\n", 0, index) + 1 if index >= 0 else None


def _entry_to_model(name: str, raw: Any, as_of: str, path: Path = CATALOG_PATH, text: str = "") -> ModelInfo:
    line = _entry_line(text, name)
    where = f"{path}:{line}" if line else str(path)
    fields = _plain_fields(raw)
    if fields is None:
        fields = _validate_fields(raw, where, name).model_dump(exclude_none=True)
    missing = [key for key in _REQUIRED_IN_CATALOG if key not in fields]
    if missing:
        raise ConfigError(f"{where}: model {name!r} has no {', '.join(missing)}; every catalog entry needs "
                          f"{', '.join(_REQUIRED_IN_CATALOG)} (prices in US dollars per 1M tokens)")
    return ModelInfo(
        name=name, provider=fields.get("provider", "openai"), tokenizer=fields["tokenizer"],
        family=fields.get("family", "chat"), context_window=fields["context_window"],
        max_output=fields["max_output"], max_input=fields.get("max_input"),
        input_per_1m=fields["input_per_1m"], cached_input_per_1m=fields.get("cached_input_per_1m"),
        output_per_1m=fields["output_per_1m"], finetune_training_per_1m=fields.get("finetune_training_per_1m"),
        **{key: fields.get(key) for key in _FINETUNED_PRICES},
        origin=f"catalog {as_of}", source=fields.get("source", ""))


@lru_cache(maxsize=4)
def _load_catalog_file(path: str, mtime_ns: int) -> Catalog:
    """The catalog in `path`; ConfigError (file, line where known, what is wrong) otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the model catalog is not UTF-8 text; {_CATALOG_SHAPE}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}:{error.lineno}: the model catalog is not valid JSON ({error.msg} at column "
                          f"{error.colno}); {_CATALOG_SHAPE}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the model catalog is a JSON {type(data).__name__}, not an object; "
                          f"{_CATALOG_SHAPE}")
    if not isinstance(data.get("models"), dict) or "as_of" not in data:
        if "sample_spec" in data or any(isinstance(v, dict) and "input_cost_per_token" in v for v in data.values()):
            raise ConfigError(f"{path}: this is a LiteLLM price file, not a Promptwise catalog; import it with "
                              f"`promptwise models import {path}`")
        wrong = "has no `as_of` date" if "as_of" not in data else (
            "has no `models` object" if "models" not in data else
            f"has `models` as a JSON {type(data['models']).__name__}, not an object of models by name")
        raise ConfigError(f"{path}:1: the model catalog {wrong}; {_CATALOG_SHAPE}")
    as_of = str(data["as_of"])
    models = {str(name): _entry_to_model(str(name), raw, as_of, Path(path), text)
              for name, raw in data["models"].items()}
    return Catalog(models, as_of, key=f"{path}@{mtime_ns}")


def load_catalog(path: Path | None = None) -> Catalog:
    """The shipped catalog (or the catalog file at `path`), read once per file version.
    Raises ConfigError naming the file (and line) and what is wrong."""
    path = Path(path or CATALOG_PATH)
    try:
        return _load_catalog_file(str(path), path.stat().st_mtime_ns)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the model catalog ({error.strerror}); "
                          "check the path given with --catalog") from None


def catalog_for(workspace: WorkspaceConfig | None, path: Path | None = None) -> Catalog:
    """The catalog with the workspace's overrides applied (the one every figure should use)."""
    catalog = load_catalog(path)
    return catalog.with_workspace(workspace) if workspace is not None else catalog

"""Model retirement: PW707 for a flow or prompty calling a model that is retired or retires soon.

The dates live in `costing/retirements.json`, one entry per model name as a flow writes it,
each with the provider's deprecations page and the day the entry was recorded, so the
diagnostic can say where its date comes from. A model retiring within the workspace's window
(`retirement: {window_days: N}` in promptwise.yaml, 90 days by default) or already retired
gets a warning naming the date, the source and the provider's recommended successor, with a
quick fix that writes the successor in place of the name (only where the name written is the
model itself: an Azure deployment name is the user's, so there the message says to redeploy).

`today` is a parameter everywhere so tests fix it; only the checker reads the clock.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from promptwise.common.problems import Fix, Problem, Severity, TextEdit
from promptwise.common.source import Position, Range
from promptwise.config import ConfigError, WorkspaceConfig

RETIREMENTS_PATH = Path(__file__).with_name("retirements.json")
DEFAULT_WINDOW_DAYS = 90
CODE = "PW707"


@dataclass(frozen=True)
class Retirement:
    name: str  # the catalog key, e.g. "o1-mini" or "azure/gpt-35-turbo-0613"
    retires: date
    successor: str
    source: str  # the provider's deprecations page
    recorded: date
    announced: date | None = None

    @property
    def model(self) -> str:
        return self.name.removeprefix("azure/")


def _day(value: object, where: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a date; write it as YYYY-MM-DD") from None


@lru_cache(maxsize=2)
def load_retirements(path: Path = RETIREMENTS_PATH) -> dict[str, Retirement]:
    """The retirement table; ConfigError naming the file and entry if it is malformed."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the retirement table ({error})") from None
    sources = data.get("sources", {}) if isinstance(data, dict) else {}
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise ConfigError(f"{path}: the retirement table needs a `models` object of entries by model name")
    table = {}
    for name, raw in models.items():
        where = f"{path}: entry {name!r}"
        if not isinstance(raw, dict) or not all(raw.get(key) for key in ("retires", "successor", "source", "recorded")):
            raise ConfigError(f"{where} needs retires, successor, source and recorded")
        table[name] = Retirement(
            name=name, retires=_day(raw["retires"], where), successor=str(raw["successor"]),
            source=str(sources.get(raw["source"], raw["source"])), recorded=_day(raw["recorded"], where),
            announced=_day(raw["announced"], where) if raw.get("announced") else None)
    return table


def window_days(workspace: WorkspaceConfig | None) -> int:
    """`retirement.window_days` from the settings (a whole number of days >= 0), else 90."""
    if workspace is None:
        return DEFAULT_WINDOW_DAYS
    value = workspace.section("retirement").get("window_days", DEFAULT_WINDOW_DAYS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{workspace.source}: `retirement.window_days` must be a whole number of days "
                          f"(0 or more), e.g. `window_days: 90`; got {value!r}")
    return value


def find_retirement(requested: str | None, *, azure: bool = False, deployments: dict[str, str] | None = None,
                    table: dict[str, Retirement] | None = None) -> tuple[Retirement, bool] | None:
    """The retirement entry for a model or deployment name, and whether the name written is the
    model itself (so a quick fix may replace it), or None when nothing is recorded for it."""
    if not isinstance(requested, str) or not requested.strip() or "${" in requested:
        return None
    table = load_retirements() if table is None else table
    name = requested.strip()
    target = (deployments or {}).get(name)
    if target is not None:  # a deployment: its model is an Azure model version
        entry = table.get("azure/" + target) or table.get(target)
        return (entry, False) if entry else None
    if azure:  # the name is a deployment named after its model, as Azure's portal suggests
        entry = table.get("azure/" + name.replace("gpt-3.5", "gpt-35"))
        return (entry, False) if entry else None
    entry = table.get(name) or table.get(name.removeprefix("openai/"))
    return (entry, True) if entry else None


def retirement_message(entry: Retirement, requested: str, today: date, window: int, via_deployment: bool) -> str | None:
    """The PW707 message, or None when the model retires after the window."""
    days = (entry.retires - today).days
    if days > window:
        return None
    named = f"{requested} ({entry.model})" if requested != entry.model else requested
    when = (f"was retired on {entry.retires.isoformat()}: calls to it fail" if days < 0 else
            f"retires on {entry.retires.isoformat()} ({'today' if days == 0 else f'in {days} day' + ('s' if days != 1 else '')})")
    action = (f"redeploy it with {entry.successor} (the provider's recommended successor)" if via_deployment
              else f"switch to {entry.successor} (the provider's recommended successor)")
    return (f"model {named} {when}; {action}. Source: {entry.source} "
            f"(recorded {entry.recorded.isoformat()})")


_NAME_CHARS = r"[\w.\-/:]"


def _name_range(text: str, near: Range, name: str) -> Range | None:
    """The exact range of `name` written as a value at or after `near` (a node input's value, or
    a prompty's model section), searched over a few lines so a section key's range also works."""
    pattern = re.compile(rf"(?<!{_NAME_CHARS}){re.escape(name)}(?!{_NAME_CHARS})")
    lines = text.split("\n")
    last = min(len(lines) - 1, max(near.end.line, near.start.line + 20))
    for number in range(near.start.line, last + 1):
        line = lines[number]
        if number > near.start.line and line.strip() == "---":  # the end of a prompty's front matter
            return None
        start = near.start.character if number == near.start.line else 0
        found = pattern.search(line, start)
        if found:
            return Range(Position(number, found.start()), Position(number, found.end()))
    return None


def retirement_problems(estimate, text: str | None, *, today: date, window: int,
                        deployments: dict[str, str] | None = None,
                        table: dict[str, Retirement] | None = None) -> list[Problem]:
    """PW707 warnings for the calls of a DocumentEstimate (one per node / prompty)."""
    problems = []
    for item in estimate.items:
        call = item.estimate
        if call is None or not call.requested_model:
            continue
        requested = call.requested_model.strip()
        found = find_retirement(requested, azure=call.call.azure, deployments=deployments, table=table)
        if found is None:
            continue
        entry, is_model_name = found
        message = retirement_message(entry, requested, today, window, via_deployment=not is_model_name)
        if message is None:
            continue
        where = item.model_range or item.range
        fixes: tuple[Fix, ...] = ()
        exact = _name_range(text, where, requested) if (is_model_name and text and item.model_range) else None
        if exact is not None:
            where = exact
            fixes = (Fix(f"Use {entry.successor} (recommended successor of {entry.model})",
                         (TextEdit(item.path, exact, entry.successor),)),)
        prefix = f"{item.node}: " if item.node else ""
        problems.append(Problem(item.path, where, Severity.WARNING, CODE, prefix + message, fixes))
    return problems

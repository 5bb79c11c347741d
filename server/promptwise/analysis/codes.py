"""Short titles of problem codes (SARIF rule descriptions, docs). Messages themselves are
written where the problem is found; this is only the catalogue."""

from __future__ import annotations

TITLES: dict[str, str] = {
    "PW000": "Internal error in a check",
    "PW100": "File cannot be read",
    "PW101": "YAML syntax error",
    "PW102": "Duplicate key",
    "PW103": "Unknown key",
    "PW104": "Wrong value type",
    "PW105": "Missing required key or value",
    "PW106": "Value not allowed",
    "PW107": "Too large to check completely",
    "PW108": "Flow in a language Promptwise does not run (C#)",
    "PW109": "Two flow files in one folder",
    "PW110": "File outside the project",
    "PW111": "Serve, tracing, monitoring, rollout or registry setting that promptwise refuses",
    "PW112": "Connection needs an extra that is not installed",
    "PW201": "Reference to an unknown flow input",
    "PW202": "Reference to an unknown node",
    "PW203": "Reference to an unknown output section or key",
    "PW204": "Node references itself",
    "PW205": "Dependency cycle",
    "PW206": "Unused flow input",
    "PW207": "Unused node output",
    "PW208": "Text that looks like a reference but is not substituted",
    "PW209": "Duplicate node name",
    "PW210": "Aggregation node misuse",
    "PW211": "use_variants without node_variants",
    "PW212": "default_variant_id is not a variant",
    "PW213": "Activate condition misuse",
    "PW214": "Flow output without a reference",
    "PW215": "Node variants not used",
    "PW216": "Unknown connection",
    "PW217": "llm node without a connection",
    "PW309": "Unknown Prompt flow package tool",
    "PW301": "Referenced file missing",
    "PW606": "Connection key not read from the environment",
}


def title(code: str) -> str:
    if code in TITLES:
        return TITLES[code]
    family = {
        "PW3": "Python tool problem",
        "PW4": "Jinja template problem",
        "PW5": "Prompty problem",
        "PW6": "Secret written in a file",
        "PW7": "Cost problem",
        "PW8": "Evaluation problem",
    }
    return family.get(code[:3], code)

"""Which file a flow path means: the file itself, or the flow file inside a folder.

Kept apart from the runner so that `check` and the evaluation's static checks can resolve a
flow without importing the engine (and with it the openai client, ~0.5 s).
"""

from __future__ import annotations

from pathlib import Path

from promptwise.documents.load import FLEX_FLOW_NAMES, FLOW_DAG_NAMES
from promptwise.engine.errors import FlowError


def resolve_flow_path(path: Path | str) -> Path:
    """The flow file for a path: the file itself, or the flow file inside a folder."""
    path = Path(path)
    if path.is_dir():
        found = [name for name in (*FLOW_DAG_NAMES, *FLEX_FLOW_NAMES) if (path / name).is_file()]
        if len(found) > 1:
            raise FlowError(f"{path}: {' and '.join(found)} are both here, as Prompt flow refuses too; pass the flow "
                            f"file to run, or remove one")
        for name in (*FLOW_DAG_NAMES, *FLEX_FLOW_NAMES):
            if (path / name).is_file():
                return path / name
        prompts = sorted(path.glob("*.prompty"))
        if len(prompts) == 1:
            return prompts[0]
        if prompts:
            names = ", ".join(p.name for p in prompts[:5]) + (", ..." if len(prompts) > 5 else "")
            raise FlowError(f"{path}: {len(prompts)} .prompty files in this folder ({names}) and no flow.dag.yaml "
                            "or flow.flex.yaml; pass the .prompty file to run")
        raise FlowError(f"{path}: no flow.dag.yaml, flow.flex.yaml or single .prompty file in this folder; "
                        f"pass the flow file")
    if not path.exists():
        raise FlowError(f"{path}: no such file; pass a flow.dag.yaml, flow.flex.yaml or .prompty file")
    return path

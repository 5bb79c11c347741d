"""Governance before anything is packaged or deployed: no version with a literal secret or a
failing `check`, and cloud regions only from the allow-list (`deploy: {allowed_regions: [...]}`).
Each refusal is a DeployError naming the file and line (or the setting) and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptwise.deploy.errors import DeployError

MAX_LISTED = 5  # problems named in one refusal; the rest are counted


def preflight(flow_path: Path, settings_file: Path | None, action: str) -> None:
    """DeployError unless the flow checks without errors and none of its behaviour files (tools,
    templates, included files, the workspace settings) holds a literal secret (PW6xx)."""
    from promptwise.analysis.analyzer import analyze
    from promptwise.analysis.problem import Severity
    from promptwise.analysis.secrets import check_text
    from promptwise.documents.content_hash import behaviour_files
    from promptwise.documents.load import read_text

    flow_file, files = behaviour_files(flow_path)
    problems = list(analyze(flow_file))
    if settings_file is not None:
        problems += analyze(settings_file)
    for file in files.values():
        text, _ = read_text(file)
        if text is not None:
            problems += check_text(file, text)
    unique = {(str(p.path), p.range.start.line, p.code): p for p in problems}
    secrets = [p for p in unique.values() if p.code.startswith("PW6")]
    errors = [p for p in unique.values() if p.severity is Severity.ERROR and not p.code.startswith("PW6")]
    if secrets:
        raise DeployError(_refusal(f"{action} refused: a literal secret would be packaged", secrets,
                                   "move each key to an environment variable (${env:NAME}) or a connection"))
    if errors:
        raise DeployError(_refusal(f"{action} refused: `promptwise check` finds errors", errors,
                                   f"fix them (promptwise check {flow_path})"))


def _refusal(headline: str, problems: list, advice: str) -> str:
    problems = sorted(problems, key=lambda p: (str(p.path), p.range.start.line, p.code))
    lines = [f"  {p.path}:{p.range.start.line + 1}: {p.code}: {p.message}" for p in problems[:MAX_LISTED]]
    more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return f"{headline}; {advice}:\n" + "\n".join(lines) + more


def allowed_regions(deploy_section: dict[str, Any], where: str) -> list[str] | None:
    """`deploy.allowed_regions` (None when not set: any region)."""
    raw = deploy_section.get("allowed_regions")
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(r, str) and r.strip() for r in raw):
        raise DeployError(f"{where}: `deploy.allowed_regions` must be a list of region names, e.g. "
                          f"[westeurope, northeurope]")
    return [r.strip().lower() for r in raw]


def check_region(target: str, region: str | None, deploy_section: dict[str, Any], where: str) -> None:
    """DeployError when `region` is not in the allow-list (checked before any cloud call). A cloud
    target that cannot tell its region while an allow-list is set is refused too."""
    allowed = allowed_regions(deploy_section, where)
    if allowed is None:
        return
    if region is None:
        raise DeployError(f"the {target} target does not name its region, but {where} allows only "
                          f"{', '.join(allowed)}; set the target's region in deploy.{target}")
    if region.strip().lower() not in allowed:
        raise DeployError(f"region {region!r} is not allowed by {where} (deploy.allowed_regions: "
                          f"{', '.join(allowed)}); deploy to an allowed region or change the policy")

"""`promptwise rollout set|promote|rollback|status FLOW`: which packaged versions `promptwise
serve FLOW` answers with, changed on a running server without a restart (it watches the state).

    promptwise rollout set FLOW triage:v1=95 triage:v2=5 [--sticky-key x-user-id] [--shadow triage:v3=10]
    promptwise rollout promote FLOW triage:v2 [--require 'category_match>=0.95']
    promptwise rollout rollback FLOW
    promptwise rollout status FLOW [--format json]
    promptwise rollout apply FLOW     # the rollout declared in promptwise.yaml / deploy.yaml

FLOW is the flow path (its registered name is the rollout's). VERSION is NAME:vN, or vN of the
flow's name. Every version is checked before anything changes; every change is audited.
"""

from __future__ import annotations

import argparse
import json

from promptwise.cli import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser("rollout", help="weights, promotion and rollback of a served flow's versions",
                                   description="Set the traffic weights of a flow's packaged versions (canary, "
                                               "sticky A/B, shadow), promote one to 100%% behind evaluation gates, "
                                               "or roll back; a running `promptwise serve FLOW` follows within a "
                                               "second, without a restart.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    setting = actions.add_parser("set", help="VERSION=WEIGHT ... (whole percents adding up to 100)")
    setting.add_argument("flow", metavar="FLOW")
    setting.add_argument("weights", nargs="+", metavar="VERSION=WEIGHT")
    setting.add_argument("--sticky-key", metavar="HEADER",
                         help="a request header (e.g. x-user-id): the same value always gets the same version")
    setting.add_argument("--shadow", metavar="VERSION=SHARE",
                         help="also run SHARE%% of requests on VERSION in the background; never returned")
    promote = actions.add_parser("promote", help="send 100%% to VERSION (behind --require gates)")
    promote.add_argument("flow", metavar="FLOW")
    promote.add_argument("version", metavar="VERSION")
    promote.add_argument("--require", action="append", default=[], metavar="METRIC>=VALUE",
                         help="refuse unless the version's newest evaluation meets it (repeatable)")
    promote.add_argument("--live", action="store_true",
                         help="also refuse when the version's live error rate or p95 latency (from the traces) is "
                              "worse than the stable version's by more than the margins")
    promote.add_argument("--error-margin", type=float, default=0.01, metavar="RATE",
                         help="live gate: allowed error-rate increase, absolute (default 0.01 = 1 point)")
    promote.add_argument("--latency-margin", type=float, default=0.2, metavar="FRACTION",
                         help="live gate: allowed p95 increase, relative (default 0.2 = 20%%)")
    promote.add_argument("--min-requests", type=int, default=20, metavar="N",
                         help="live gate: the candidate's live requests needed to judge it (default 20)")
    promote.add_argument("--window-hours", type=float, default=24.0, metavar="H",
                         help="live gate: the traces of the last H hours (default 24)")
    apply = actions.add_parser("apply", help="serve the rollout declared for FLOW under `rollout:` in promptwise.yaml "
                                             "or deploy.yaml")
    apply.add_argument("flow", metavar="FLOW")
    rollback = actions.add_parser("rollback", help="back to the previous rollout state")
    rollback.add_argument("flow", metavar="FLOW")
    status = actions.add_parser("status", help="the current weights, sticky key and shadow")
    status.add_argument("flow", metavar="FLOW")
    compare = actions.add_parser("compare", help="the rollout's versions (and shadow) on live traffic: requests, "
                                                 "errors, p50/p95, cost, agreement of the shadow's answers")
    compare.add_argument("flow", metavar="FLOW")
    compare.add_argument("--window-hours", type=float, default=24.0, metavar="H",
                         help="the traces of the last H hours (default 24)")
    for sub in (setting, promote, apply, rollback, status, compare):
        sub.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=handle, parser=parser)


def handle(args: argparse.Namespace) -> int:
    if args.action is None:
        args.parser.print_help()
        return 2
    from promptwise.deploy.errors import DeployError
    from promptwise.deploy.service import open_context, resolve_flow

    try:
        flow = resolve_flow(args.flow)
        context = open_context(flow, readonly=args.action in ("status", "compare"))
    except DeployError as error:
        raise UserError(str(error)) from None
    try:
        return {"set": _set, "promote": _promote, "apply": _apply, "rollback": _rollback, "status": _status,
                "compare": compare_live}[args.action](
            context, flow, args)
    except DeployError as error:
        raise UserError(str(error)) from None
    finally:
        context.close()


def _state_file(context, flow):
    """(name, where its rollout state lives): the file, or the team database through the
    registry's connection (a change and its audit entry then commit in one transaction)."""
    from promptwise.deploy.registry import check_name_owner
    from promptwise.deploy.rollout import flow_name, state_for

    check_name_owner(context.workspace, flow, context.registry)  # not another flow's rollout by a shared name
    name = flow_name(flow)
    return name, state_for(context.workspace, name, context.registry)


def _version_id(context, flow, ref: str, name: str) -> str:
    """The registry id of `ref`, which must be a version of this flow (DeployError otherwise)."""
    from promptwise.deploy.errors import DeployError
    from promptwise.deploy.service import version_for

    version = version_for(context, ref, flow)
    if version.name != name:
        raise DeployError(f"{version.id} is a version of {version.name!r}, not of this flow ({name!r})")
    return version.id


def _audit(context, action: str, name: str, before, after, outcome: str = "ok", **details) -> None:
    from promptwise.deploy import audit
    from promptwise.deploy.rollout import main_version

    audit.record(context.registry.database, action, who=context.who, name=name, from_version=main_version(before),
                 to_version=main_version(after), target="serve", outcome=outcome,
                 details={"from": before, "to": after, **details})


def _set(context, flow, args) -> int:
    from promptwise.deploy import rollout
    from promptwise.deploy.errors import DeployError

    name, path = _state_file(context, flow)
    given = rollout.parse_weights(args.weights)
    weights = {_version_id(context, flow, ref, name): weight for ref, weight in given.items()}
    if len(weights) != len(given):
        raise DeployError("a version is given twice (under two names); give each once")
    state: dict = {"weights": weights}
    if args.sticky_key:
        state["sticky_key"] = args.sticky_key.strip().lower()
    if args.shadow:
        ref, sep, share = args.shadow.rpartition("=")
        if not sep:
            ref, share = args.shadow, "100"
        try:
            share_value = float(share)
        except ValueError:
            share_value = -1.0
        state["shadow"] = {"version": _version_id(context, flow, ref, name), "share": share_value}
    rollout.check_state(state, f"rollout of {name}")
    with rollout.locked(path):
        before = rollout.replace_current(path, state)
        _audit(context, "rollout", name, before, state)
    _print(args, name, state, "set")
    return 0


def _promote(context, flow, args) -> int:
    from promptwise.deploy import rollout
    from promptwise.deploy.errors import DeployError

    name, path = _state_file(context, flow)
    version_id = _version_id(context, flow, args.version, name)
    requirements = [rollout.parse_requirement(text) for text in args.require]
    current = rollout.read(path)["current"]
    problems = _evaluation_gate(context, version_id, requirements) if requirements else []
    live = None
    if args.live:
        live, stable = _live_gate(context, version_id, current, args)
        problems += stable
    target = {"weights": {version_id: 100}}
    if problems:
        _audit(context, "promote", name, current, target, outcome="refused", reasons=problems, live=live)
        raise DeployError(f"promote {version_id} refused; nothing changed: " + "; ".join(problems))
    if current and current.get("sticky_key"):
        target["sticky_key"] = current["sticky_key"]
    with rollout.locked(path):
        before = rollout.replace_current(path, target)
        _audit(context, "promote", name, before, target, require=args.require, live=live)
    _print(args, name, target, "promoted")
    return 0


def _evaluation_gate(context, version_id: str, requirements) -> list[str]:
    """Why the version's evaluations (of exactly its content, newest first) miss the thresholds."""
    from promptwise.deploy import rollout
    from promptwise.deploy.service import evidence

    evaluations = evidence(context.registry.get(version_id), context.workspace.state_dir)["evaluations"]
    problems = []
    for metric, op, threshold in requirements:
        value = next((e["metrics"][metric] for e in evaluations if metric in e["metrics"]), None)
        if value is None:
            problems.append(f"{metric}: no evaluation of {version_id}'s content measured it "
                            f"(promptwise eval on this version's flow first)")
        elif not rollout.meets(value, op, threshold):
            problems.append(f"{metric} is {value:g}, the gate is {op}{threshold:g}")
    return problems


def _live_gate(context, version_id: str, current, args) -> tuple[dict, list[str]]:
    """The candidate against the stable version (the heaviest other one) on live traces."""
    import time

    from promptwise.deploy import rollout

    others = sorted(((w, v) for v, w in (current or {}).get("weights", {}).items() if v != version_id), reverse=True)
    if not others:
        return {}, [f"the live gate needs a stable version serving beside {version_id} (rollout set first)"]
    stable = others[0][1]
    since = time.time_ns() - int(args.window_hours * 3600e9)
    figures = rollout.live_figures(context.workspace.root, [version_id, stable], since)
    return figures, rollout.live_problems(figures[version_id], figures[stable], error_margin=args.error_margin,
                                          latency_margin=args.latency_margin, min_requests=args.min_requests,
                                          names=(version_id, stable))


def _apply(context, flow, args) -> int:
    from promptwise.deploy import rollout, rollout_file
    from promptwise.deploy.errors import DeployError

    name, path = _state_file(context, flow)
    applied = rollout_file.apply(context, name, path, force=True)
    if applied is None:
        if rollout_file.find(context.workspace, name) is None:
            files = " or ".join(str(f) for f in rollout_file.sources(context.workspace)) or "promptwise.yaml"
            raise DeployError(f"no rollout of {name} is declared in {files}; add one under `rollout:` "
                              f"({name}: {{weights: {{v1: 90, v2: 10}}}})")
        _print(args, name, rollout.read(path)["current"], "unchanged, already serving")
        return 0
    _print(args, name, applied[1], f"applied from {applied[0].source.name}:")
    return 0


def _rollback(context, flow, args) -> int:
    from promptwise.deploy import rollout

    name, path = _state_file(context, flow)
    with rollout.locked(path):
        left, restored = rollout.roll_back(path)
        _audit(context, "rollback", name, left, restored)
    _print(args, name, restored, "rolled back to")
    return 0


def _status(context, flow, args) -> int:
    from promptwise.deploy import rollout

    name, path = _state_file(context, flow)
    data = rollout.read(path)
    declared = data.get("declared") or {}
    if args.format == "json":
        print(json.dumps({"flow": name, "state_file": str(path), "current": data["current"],
                          "history": len(data["history"]), "declared": declared or None}, indent=2))
        return 0
    if data["current"] is None:
        print(f"{name}: no rollout (promptwise serve serves the working flow); "
              f"promptwise rollout set FLOW {name}:vN=100")
        return 0
    _print(args, name, data["current"], "now")
    if declared and declared.get("state") != data["current"]:
        print(f"  (differs from the rollout last applied from {declared.get('source')}: "
              f"promptwise rollout apply FLOW serves that one again)")
    return 0


def live_comparison(flow_path, output_format: str, window_hours: float = 24.0) -> int:
    """`promptwise compare --live --flow FLOW`."""
    if flow_path is None:
        raise UserError("compare --live: name the flow: promptwise compare --live --flow FLOW")
    return handle(argparse.Namespace(action="compare", flow=str(flow_path), format=output_format,
                                     window_hours=window_hours, parser=None))


def compare_live(context, flow, args) -> int:
    """The current rollout's versions side by side on their live traces (`compare --live` too)."""
    import time

    from promptwise.deploy import rollout
    from promptwise.deploy.errors import DeployError

    name, path = _state_file(context, flow)
    current = rollout.read(path)["current"]
    if current is None:
        raise DeployError(f"{name} has no rollout to compare (promptwise rollout set FLOW V1=90 V2=10)")
    shadow = (current.get("shadow") or {}).get("version")
    versions = list(current["weights"]) + ([shadow] if shadow and shadow not in current["weights"] else [])
    since = time.time_ns() - int(args.window_hours * 3600e9)
    figures = rollout.live_figures(context.workspace.root, versions, since, shadow=shadow)
    if args.format == "json":
        print(json.dumps({"flow": name, "window_hours": args.window_hours, "versions": [
            {"version": v, "weight": current["weights"].get(v, 0), "shadow": v == shadow, **figures[v]}
            for v in versions]}, indent=2))
        return 0
    print(f"{name}: live traffic of the last {args.window_hours:g} h")
    print(f"{'version':<24} {'weight':>6} {'requests':>8} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'$/request':>10}"
          f"  agreement")
    for v in versions:
        f = figures[v]
        weight = "shadow" if v == shadow else f"{current['weights'][v]}%"

        def cell(value, spec):
            return "-" if value is None else format(value, spec)

        agreement = f.get("agreement")
        agrees = "" if not agreement else (
            f"{agreement['same']}/{agreement['compared']} same answers" if agreement["compared"]
            else "no answers recorded (tracing.capture_content off?)")
        print(f"{v:<24} {weight:>6} {f['requests']:>8} {cell(f['error_rate'], '.1%'):>7} {cell(f['p50_ms'], '.0f'):>8} "
              f"{cell(f['p95_ms'], '.0f'):>8} {cell(f['cost_per_request'], '.5f'):>10}  {agrees}")
    return 0


def _print(args, name: str, state: dict, what: str) -> None:
    if args.format == "json":
        print(json.dumps({"flow": name, **state}, indent=2))
        return
    line = ", ".join(f"{v} {w}%" for v, w in state["weights"].items())
    extra = ""
    if state.get("sticky_key"):
        extra += f"; sticky by {state['sticky_key']}"
    if state.get("shadow"):
        extra += f"; shadow {state['shadow']['version']} on {state['shadow'].get('share', 100):g}% of requests"
    print(f"{name}: {what} {line}{extra}")

"""References and the node graph of a flow.dag.yaml (PW2xx).

PW201 unknown flow input          PW202 unknown node            PW203 bad output section/key
PW204 self reference              PW205 dependency cycle        PW206 unused flow input (warning)
PW207 unused node output (warning)
PW208 text that looks like a reference but is not one (warning)
PW209 duplicate node name         PW210 aggregation misuse      PW211 use_variants without variants
PW212 default_variant_id unknown  PW213 activate misuse         PW214 flow output without a reference
PW215 node_variants for no node / not used (warning)
"""

from __future__ import annotations

from pathlib import Path

from promptwise.analysis.context import AnalysisContext
from promptwise.analysis.edits import remove_entry_fix, replace_fix
from promptwise.analysis.output_keys import known_output_keys, scalar_return
from promptwise.analysis.problem import Problem, Severity
from promptwise.analysis.schema import suggest
from promptwise.analysis.tools import node_source_path
from promptwise.documents.common import as_mapping
from promptwise.documents.flow_dag import FlowDag, FlowNode
from promptwise.documents.python_tool import PythonToolFile, find_tool_function
from promptwise.documents.references import Reference, embedded_references
from promptwise.documents.source import Range


class _Problems(list):
    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def add(self, code, range_, message, severity=Severity.ERROR, fixes=()):
        self.append(Problem(self.path, range_, severity, code, message, tuple(f for f in fixes if f)))

    def add_unknown_name(self, code, range_, wrong: str, guess: str | None, otherwise: str) -> None:
        """A name that matches nothing: with a close `guess`, `wrong; did you mean 'guess'?`
        and a fix that writes the guess at `range_`; without one, the message `otherwise`."""
        if guess:
            self.add(
                code,
                range_,
                f"{wrong}; did you mean '{guess}'?",
                fixes=[replace_fix(self.path, range_, guess, f"Change to '{guess}'")],
            )
        else:
            self.add(code, range_, otherwise)


def _where(where: str, owner) -> str:
    if where == "output":
        return f"flow output '{owner.name}'"
    if where == "activate":
        return f"the activate condition of node '{owner.name}'"
    return f"node '{owner.name}'"


def _tool_of(flow: FlowDag, node: FlowNode, context: AnalysisContext):
    """(module, function) of a python node's tool, when it can be read."""
    if node.type != "python" or node.source is None or not node.source.path:
        return None
    if not node.source.path.endswith(".py") or (node.source.type or "code") != "code":
        return None
    module = context.load(node_source_path(flow, node.source.path, context))
    if not isinstance(module, PythonToolFile):
        return None
    lookup = find_tool_function(module, node.source.tool)
    return (module, lookup.function) if lookup.function is not None else None


def node_output_keys(flow: FlowDag, node: FlowNode, context: AnalysisContext) -> tuple[str, ...] | None:
    """Keys a node's output certainly has (python nodes returning dict literals or a
    TypedDict); None when unknown. Used by the checks and by editor completion."""
    tool = _tool_of(flow, node, context)
    return known_output_keys(*tool) if tool is not None else None


def _check_output_path(
    flow: FlowDag, target: FlowNode, reference: Reference, problems: _Problems, context: AnalysisContext
) -> None:
    tool = _tool_of(flow, target, context)
    if tool is None:
        return
    module, function = tool
    returns = scalar_return(module, function)
    if returns is not None:
        problems.add(
            "PW203",
            reference.path_range or reference.range,
            f"node '{target.name}' returns {returns}, which has no key "
            f"'{'.'.join(reference.path)}'; reference `${{{target.name}.output}}` or return a dict",
        )
        return
    keys = known_output_keys(module, function)
    if keys is None or reference.path[0] in keys:
        return
    key_range = reference.path_range or reference.range
    if key_range.start.line == key_range.end.line and len(reference.path) > 1:
        # only the first key is checked; point at it alone
        key_range = Range.of(
            key_range.start.line,
            key_range.start.character,
            key_range.start.line,
            key_range.start.character + len(reference.path[0]),
        )
    listed = ", ".join(keys) if keys else "none"
    wrong = f"the output of node '{target.name}' has no key '{reference.path[0]}' (its tool returns {listed})"
    problems.add_unknown_name(
        "PW203",
        key_range,
        wrong,
        suggest(reference.path[0], keys),
        f"{wrong}; use one of those keys or return this one from the tool",
    )


def _check_reference(
    flow: FlowDag,
    where: str,
    owner,
    reference: Reference,
    problems: _Problems,
    context: AnalysisContext,
) -> None:
    path = flow.path
    if reference.is_flow_input:
        if not reference.name:
            problems.add(
                "PW208",
                reference.range,
                f"`{reference.text}` names no input; write `${{inputs.<name>}}`",
            )
        elif reference.name not in flow.inputs:
            wrong = f"{_where(where, owner)} reads flow input '{reference.name}', which is not declared"
            declared = ", ".join(flow.inputs) or "none"
            problems.add_unknown_name(
                "PW201",
                reference.name_range,
                wrong,
                suggest(reference.name, flow.inputs),
                f"{wrong} (declared: {declared}); add it under `inputs:` or fix the name",
            )
        return
    target = flow.node(reference.name)
    if target is None:
        if reference.name in flow.inputs:
            fixed = f"${{inputs.{reference.name}}}"
            problems.add(
                "PW202",
                reference.range,
                f"`{reference.text}` reads a node '{reference.name}', but that is a flow input; "
                f"write `{fixed}`",
                fixes=[replace_fix(path, reference.range, fixed, f"Change to {fixed}")],
            )
            return
        names = [n.name for n in flow.nodes if n.name]
        wrong = f"{_where(where, owner)} reads node '{reference.name}', which does not exist"
        problems.add_unknown_name(
            "PW202",
            reference.name_range,
            wrong,
            suggest(reference.name, names),
            f"{wrong}; add that node or reference an existing one",
        )
        return
    if where != "output" and isinstance(owner, FlowNode) and reference.name == owner.name:
        problems.add(
            "PW204",
            reference.range,
            f"node '{owner.name}' references its own output; a node cannot read itself — "
            "reference another node or a flow input",
        )
        return
    if reference.section is not None and reference.section != "output":
        fixed_range = reference.section_range or reference.range
        problems.add(
            "PW203",
            fixed_range,
            f"`{reference.text}`: a node reference reads `.output`, not `.{reference.section}`; "
            f"write `${{{reference.name}.output...}}`",
            fixes=[replace_fix(path, fixed_range, "output", "Change to 'output'")],
        )
        return
    if reference.path:
        _check_output_path(flow, target, reference, problems, context)
    if target.aggregation and where != "output" and isinstance(owner, FlowNode):
        owner_aggregates = owner.aggregation or _variant_parent_aggregates(flow, owner)
        if not owner_aggregates:
            problems.add(
                "PW210",
                reference.range,
                f"node '{owner.name}' reads aggregation node '{target.name}', but runs once per "
                "row while aggregation runs once over all rows; make this node an aggregation "
                "node too (`aggregation: true`) or read a regular node",
            )
    if target.aggregation and where == "output":
        problems.add(
            "PW210",
            reference.range,
            f"flow output '{owner.name}' reads aggregation node '{target.name}'; flow outputs "
            "are per row — log aggregated values as metrics instead, or read a regular node",
        )


def _variant_parent_aggregates(flow: FlowDag, node: FlowNode) -> bool:
    if node.variant_of is None:
        return False
    parent = flow.node(node.variant_of[0])
    return parent is not None and parent.aggregation


def _check_embedded(flow: FlowDag, problems: _Problems) -> None:
    def report(value_node, owner_text):
        for text, range_ in embedded_references(value_node):
            problems.add(
                "PW208",
                range_,
                f"`{text}` inside a longer text in {owner_text} is passed literally (Prompt "
                "flow substitutes a value only when it is entirely `${...}`); make the value just "
                "the reference and combine texts in the template or tool",
                Severity.WARNING,
            )

    for node in flow.all_nodes():
        for node_input in node.inputs.values():
            report(node_input.value_node, f"input '{node_input.name}' of node '{node.name}'")
        if node.activate is not None:
            report(node.activate.value_node("when"), f"the activate condition of node '{node.name}'")
    for output in flow.outputs.values():
        report(output.value_node("reference"), f"flow output '{output.name}'")


def _check_duplicates(flow: FlowDag, problems: _Problems) -> None:
    seen: dict[str, FlowNode] = {}
    for node in flow.nodes:
        if not node.name:
            continue
        first = seen.get(node.name)
        if first is not None:
            problems.add(
                "PW209",
                node.name_range,
                f"a second node is named '{node.name}' (the first is on line "
                f"{first.name_range.start.line + 1}); node names must be unique — rename one",
            )
        else:
            seen[node.name] = node


def _dependencies(flow: FlowDag) -> dict[str, list[tuple[str, Reference]]]:
    """node name -> [(referenced node, reference)], including the references of a node's
    variants (any variant may run)."""
    graph: dict[str, list[tuple[str, Reference]]] = {}
    for node in flow.all_nodes():
        owner = node.variant_of[0] if node.variant_of else node.name
        if not owner or flow.node(owner) is None:
            continue
        edges = graph.setdefault(owner, [])
        for _, reference in node.references():
            if reference.is_node and reference.name != owner and flow.node(reference.name) is not None:
                edges.append((reference.name, reference))
    return graph


def _strongly_connected(graph: dict[str, list[tuple[str, Reference]]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a 10,000-node chain must not hit the recursion limit)."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index_of:
            continue
        work = [(root, 0)]
        while work:
            name, edge_index = work.pop()
            if edge_index == 0:
                index_of[name] = low[name] = counter
                counter += 1
                stack.append(name)
                on_stack.add(name)
            edges = graph.get(name, [])
            advanced = False
            while edge_index < len(edges):
                target = edges[edge_index][0]
                edge_index += 1
                if target not in index_of:
                    work.append((name, edge_index))
                    work.append((target, 0))
                    advanced = True
                    break
                if target in on_stack:
                    low[name] = min(low[name], index_of[target])
            if advanced:
                continue
            if low[name] == index_of[name]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == name:
                        break
                if len(component) > 1:
                    components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
    return components


def _cycle_path(graph, members: set[str], start: str) -> list[str]:
    """One cycle through `start` inside a strongly connected component (BFS, shortest)."""
    previous: dict[str, str] = {}
    queue = [start]
    seen = {start}
    while queue:
        current = queue.pop(0)
        for target, _ in graph.get(current, []):
            if target not in members:
                continue
            if target == start:
                path = [current]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return list(reversed(path)) + [start]
            if target not in seen:
                seen.add(target)
                previous[target] = current
                queue.append(target)
    return [start, start]


def _check_cycles(flow: FlowDag, problems: _Problems) -> None:
    graph = _dependencies(flow)
    order = {node.name: node.index for node in flow.nodes if node.name}
    for component in _strongly_connected(graph):
        members = set(component)
        start = min(component, key=lambda name: order.get(name, 0))
        cycle = _cycle_path(graph, members, start)
        described = " -> ".join(cycle)
        for source, target in zip(cycle, cycle[1:]):
            reference = next(ref for name, ref in graph[source] if name == target)
            problems.add(
                "PW205",
                reference.range,
                f"dependency cycle: {described}. Nodes in a cycle can never run; remove one of "
                f"these references (here node '{source}' reads '{target}')",
            )


def _check_unused(flow: FlowDag, problems: _Problems) -> None:
    used_inputs: set[str] = set()
    used_nodes: set[str] = set()
    for _, owner, reference in flow.references():
        if reference.is_flow_input:
            used_inputs.add(reference.name)
        elif not (isinstance(owner, FlowNode) and reference.name in (owner.name, (owner.variant_of or ("",))[0])):
            used_nodes.add(reference.name)
    inputs_mapping = as_mapping(flow.root.get("inputs")) if flow.root is not None else None
    for name, flow_input in flow.inputs.items():
        if name in used_inputs:
            continue
        fix = (
            remove_entry_fix(flow.path, inputs_mapping, name, flow.text, f"Remove input '{name}'")
            if inputs_mapping is not None
            else None
        )
        problems.add(
            "PW206",
            flow_input.key_range,
            f"flow input '{name}' is not used by any node or output; use it as "
            f"`${{inputs.{name}}}` or remove it",
            Severity.WARNING,
            [fix],
        )
    for node in flow.nodes:
        if not node.name or node.name in used_nodes or node.aggregation:
            continue  # aggregation nodes exist for their side effect: metrics
        problems.add(
            "PW207",
            node.name_range,
            f"the output of node '{node.name}' is not used by any node or flow output; "
            f"reference it (e.g. add a flow output with `reference: ${{{node.name}.output}}`) "
            "or remove the node",
            Severity.WARNING,
        )


def _check_variants(flow: FlowDag, problems: _Problems) -> None:
    for node in flow.nodes:
        if node.use_variants and node.name not in flow.node_variants:
            problems.add(
                "PW211",
                node.key_range("use_variants") or node.name_range,
                f"node '{node.name}' says `use_variants: true` but `node_variants` has no entry "
                f"'{node.name}'; add its variants under `node_variants:` or remove `use_variants`",
            )
    for name, variants in flow.node_variants.items():
        node = flow.node(name)
        if node is None:
            guess = suggest(name, [n.name for n in flow.nodes if n.name])
            hint = f"; did you mean '{guess}'?" if guess else "; rename it to match a node or remove it"
            problems.add(
                "PW215",
                variants.key_range,
                f"`node_variants` has an entry '{name}' but no node has that name{hint}",
                Severity.WARNING,
                [replace_fix(flow.path, variants.key_range, guess, f"Rename to '{guess}'")] if guess else [],
            )
        elif not node.use_variants:
            problems.add(
                "PW215",
                variants.key_range,
                f"variants of node '{name}' are never used: the node does not say "
                "`use_variants: true`; add it to the node or remove these variants",
                Severity.WARNING,
            )
        default = variants.default_variant_id
        if default is not None and variants.variants and default not in variants.variants:
            guess = suggest(default, variants.variants)
            range_ = variants.value_range("default_variant_id") or variants.key_range
            options = ", ".join(variants.variants)
            problems.add(
                "PW212",
                range_,
                f"default_variant_id '{default}' is not one of the variants of '{name}' "
                f"({options})" + (f"; did you mean '{guess}'?" if guess else "; use one of them"),
                fixes=[replace_fix(flow.path, range_, guess, f"Change to '{guess}'")] if guess else [],
            )


def _check_activate(flow: FlowDag, problems: _Problems) -> None:
    for node in flow.all_nodes():
        activate = node.activate
        if activate is None or activate.mapping is None or not activate.has_when:
            continue
        if activate.when is None and activate.when_value is not None:
            problems.add(
                "PW213",
                activate.value_range("when") or node.name_range,
                f"the activate condition of node '{node.name}' compares a fixed value, so the "
                "node always or never runs; make `when` a reference such as `${other_node.output}`",
                Severity.WARNING,
            )


def _check_outputs(flow: FlowDag, problems: _Problems) -> None:
    for output in flow.outputs.values():
        if output.reference is None and output.reference_text not in (None, ""):
            if "${" in str(output.reference_text):
                continue  # embedded references are reported by PW208
            problems.add(
                "PW214",
                output.value_range("reference") or output.key_range,
                f"flow output '{output.name}' has a literal `reference`; it must be a reference "
                "such as `${node_name.output}` or `${inputs.name}`",
            )


def check_flow_graph(flow: FlowDag, context: AnalysisContext) -> list[Problem]:
    problems = _Problems(flow.path)
    if flow.root is None:
        return problems
    _check_duplicates(flow, problems)
    for where, owner, reference in flow.references():
        _check_reference(flow, where, owner, reference, problems, context)
    _check_embedded(flow, problems)
    _check_cycles(flow, problems)
    _check_unused(flow, problems)
    _check_variants(flow, problems)
    _check_activate(flow, problems)
    _check_outputs(flow, problems)
    return list(problems)


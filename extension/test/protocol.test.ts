import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  batchRunArgs,
  compareRunsArgs,
  estimateCostArgs,
  evaluateArgs,
  hasDocumentTotals,
  isFlowFile,
  lensArguments,
  nearestFirst,
  outcomeKind,
  parseInputs,
  evaluationShown,
  runFlowArgs,
  showRunArgs,
  showTraceAnswer,
  withWorkDoneToken,
} from "../src/protocol";

const uri = "file:///work/flows/log-triage/flow.dag.yaml";

describe("argument building (one object per command, PLAN.md)", () => {
  it("runFlow without inputs lets the server use the sample inputs", () => {
    assert.deepEqual(runFlowArgs(uri), { uri });
  });
  it("runFlow with typed inputs", () => {
    assert.deepEqual(runFlowArgs(uri, { question: "hi" }), { uri, inputs: { question: "hi" } });
  });
  it("runFlow keeps a code lens's extra fields such as variants", () => {
    assert.deepEqual(runFlowArgs(uri, undefined, { uri, variants: { summarize: "variant_1" } }), { uri, variants: { summarize: "variant_1" } });
  });
  it("batchRun drops empty options", () => {
    assert.deepEqual(batchRunArgs(uri, "/d/data.jsonl"), { uri, data: "/d/data.jsonl" });
    assert.deepEqual(batchRunArgs(uri, "/d/data.csv", { name: "nightly", concurrency: 4 }), { uri, data: "/d/data.csv", name: "nightly", concurrency: 4 });
    assert.deepEqual(batchRunArgs(uri, "/d/data.csv", { concurrency: 0 }), { uri, data: "/d/data.csv" });
  });
  it("evaluate takes a dataset or a run", () => {
    assert.deepEqual(evaluateArgs(uri, { run: "run-7" }), { uri, run: "run-7" });
    assert.deepEqual(evaluateArgs(uri, { data: "/d/x.jsonl" }), { uri, data: "/d/x.jsonl" });
  });
  it("estimateCost with and without data", () => {
    assert.deepEqual(estimateCostArgs(uri), { uri });
    assert.deepEqual(estimateCostArgs(uri, "/d/x.jsonl"), { uri, data: "/d/x.jsonl" });
  });
  it("compareRuns splits, trims and de-duplicates names", () => {
    assert.deepEqual(compareRunsArgs(["a, b", "b", " c "]), { runs: ["a", "b", "c"] });
  });
  it("compareRuns needs two runs and says so", () => {
    assert.throws(() => compareRunsArgs(["only-one"]), /at least two run names; got only "only-one"/);
    assert.throws(() => compareRunsArgs([" , "]), /got none/);
  });
});

describe("parseInputs", () => {
  it("accepts a JSON object", () => assert.deepEqual(parseInputs('{"question": "What is covered?", "n": 2}'), { inputs: { question: "What is covered?", n: 2 } }));
  it("empty text means no inputs", () => assert.deepEqual(parseInputs("  "), { inputs: {} }));
  it("explains invalid JSON and shows what to type", () => {
    const result = parseInputs("{question: hi}");
    assert.ok("error" in result);
    assert.match(result.error, /^Inputs are not valid JSON \(.+\); type an object such as \{"question"/);
  });
  it("rejects arrays and scalars by name", () => {
    const array = parseInputs("[1]");
    const scalar = parseInputs('"hi"');
    assert.ok("error" in array && /got an array/.test(array.error));
    assert.ok("error" in scalar && /got a string/.test(scalar.error));
  });
});

describe("lensArguments", () => {
  it("recognises the server's argument object", () => {
    assert.deepEqual(lensArguments({ uri, inputs: {} }), { uri, inputs: {} });
    assert.deepEqual(lensArguments({ run: "r1" }), { run: "r1" });
    assert.deepEqual(lensArguments({ runs: ["a", "b"] }), { runs: ["a", "b"] });
    // A results row's Show trace: the evaluation, then the evaluated run, and the row.
    assert.deepEqual(lensArguments({ run: ["r1.eval1", "r1"], row: 3 }), { run: ["r1.eval1", "r1"], row: 3 });
    // An alert's Open Trace without a flow, and the vscode://promptwise.promptwise/trace?id= handler.
    assert.deepEqual(lensArguments({ trace_id: "3c9fb95acc39d8d6233599f8e7e694cf" }), { trace_id: "3c9fb95acc39d8d6233599f8e7e694cf" });
  });
  it("ignores palette calls and vscode.Uri-like objects", () => {
    assert.equal(lensArguments(undefined), undefined);
    assert.equal(lensArguments({ scheme: "file", fsPath: "/x", path: "/x" }), undefined);
    assert.equal(lensArguments([{ uri }]), undefined);
  });
});

describe("file kinds", () => {
  it("flow files", () => {
    for (const file of ["/a/flow.dag.yaml", "/a/flow.flex.yaml", "/a/claim-summary.prompty", "C:\\a\\flow.dag.yaml"]) assert.ok(isFlowFile(file), file);
    for (const file of ["/a/other.yaml", "/a/flow.dag.yaml.bak", "/a/t.jinja2"]) assert.ok(!isFlowFile(file), file);
  });
  it("status bar also covers Jinja templates", () => {
    assert.ok(hasDocumentTotals("/a/prompt.jinja2"));
    assert.ok(hasDocumentTotals("/a/prompt.j2"));
    assert.ok(!hasDocumentTotals("/a/tool.py"));
  });
});

describe("nearestFirst", () => {
  it("orders datasets from the flow's folder outwards", () => {
    const files = ["/w/other/z.jsonl", "/w/flow/sub/deep/d.csv", "/w/flow/b.jsonl", "/w/flow/a.csv", "/w/flow/sub/c.jsonl", "/w/top.jsonl"];
    assert.deepEqual(nearestFirst("/w/flow", files), ["/w/flow/a.csv", "/w/flow/b.jsonl", "/w/flow/sub/c.jsonl", "/w/flow/sub/deep/d.csv", "/w/top.jsonl", "/w/other/z.jsonl"]);
  });
});

describe("work-done token and outcomes", () => {
  it("adds the token to the argument object without changing the original", () => {
    const args = runFlowArgs(uri);
    assert.deepEqual(withWorkDoneToken(args, "t-1"), { uri, workDoneToken: "t-1" });
    assert.deepEqual(args, { uri });
  });
  const outcomes: Array<[string | undefined, unknown, string]> = [
    ["completed", undefined, "ok"],
    [undefined, undefined, "ok"],
    ["canceled", undefined, "cancelled"],
    ["cancelled", undefined, "cancelled"],
    ["error", "flow.dag.yaml:3: bad; fix it", "failed"],
    ["completed", { message: "node x failed" }, "failed"],
    ["failed", undefined, "failed"],
  ];
  for (const [status, error, kind] of outcomes) {
    it(`${status ?? "no status"}${error ? " with error" : ""} -> ${kind}`, () => assert.equal(outcomeKind(status, error), kind));
  }
});

describe("show run", () => {
  it("palette call sends only the run", () => {
    assert.deepEqual(showRunArgs("run-7"), { run: "run-7" });
  });
  it("an evaluation lens forwards its evaluation and document", () => {
    assert.deepEqual(showRunArgs("run-7", { run: "run-7", evaluation: "run-7.eval2", uri }), { run: "run-7", evaluation: "run-7.eval2", uri });
  });
  it("ignores empty or non-string lens fields", () => {
    assert.deepEqual(showRunArgs("run-7", { run: "run-7", evaluation: "", uri: 3 }), { run: "run-7" });
  });
  it("recognises a result that holds an evaluation", () => {
    assert.equal(evaluationShown({ run: "run-7", evaluation: "run-7.eval1", metrics: {} }), "run-7.eval1");
    assert.equal(evaluationShown({ run: "run-7", evaluation: null }), undefined);
    assert.equal(evaluationShown([]), undefined);
    assert.equal(evaluationShown(undefined), undefined);
  });
});

describe("show trace answer", () => {
  const span = { span_id: "a1", name: "invoke_workflow log-triage", status: "error", children: [] };
  it("a trace that failed is a trace to show, not a failed request", () => {
    // What `promptwise.showTrace` answers for a cancelled batch row or a failed served request:
    // the trace's own status is "error" (an alert on error_rate always links such a trace).
    const failed = { trace_id: "3c9fb95acc39d8d6233599f8e7e694cf", status: "error", error_type: "CancelledError", spans: [span] };
    assert.deepEqual(showTraceAnswer(failed), { trace: failed });
    const ok = { trace_id: "3c9fb95acc39d8d6233599f8e7e694cf", status: "unset", spans: [span] };
    assert.deepEqual(showTraceAnswer(ok), { trace: ok });
  });
  it("the server's error answer is its message", () => {
    const error = "no trace 3c9fb95acc39 in /w/.promptwise/traces.sqlite (deleted by the retention setting?)";
    assert.deepEqual(showTraceAnswer({ status: "error", error }), { error });
  });
  it("anything else says that no trace came and where to look", () => {
    for (const answer of [undefined, null, [], "trace", { status: "error" }, { status: "ok", spans: "none" }]) {
      const outcome = showTraceAnswer(answer);
      assert.ok("error" in outcome && /without a trace.*Show Server Log/.test(outcome.error), JSON.stringify(answer));
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  batchSummary,
  estimateSummary,
  errorDetail,
  evaluateSummary,
  formatCost,
  formatLatency,
  formatTokens,
  requestErrorMessage,
  runSummary,
  statusBarText,
  statusBarTooltip,
  totalTokens,
} from "../src/format";

describe("numbers", () => {
  it("tokens with thousands separators", () => {
    assert.equal(formatTokens(1240), "1,240");
    assert.equal(formatTokens(0), "0");
  });
  const costs: Array<[number | null, string]> = [
    [0.0023, "$0.0023"],
    [0.00231, "$0.0023"],
    [0.04, "$0.040"],
    [0.5, "$0.50"],
    [2.3, "$2.30"],
    [1240, "$1,240"],
    [0, "$0"],
    [null, "n/a"],
  ];
  for (const [value, text] of costs) it(`cost ${value} -> ${text}`, () => assert.equal(formatCost(value), text));
  it("latency in ms below a second, seconds above", () => {
    assert.equal(formatLatency(412.4), "412 ms");
    assert.equal(formatLatency(1834), "1.83 s");
    assert.equal(formatLatency(61_000), "61.0 s");
  });
  it("total tokens from the shapes servers report", () => {
    assert.equal(totalTokens(57), 57);
    assert.equal(totalTokens({ total: 90, prompt: 60, completion: 30 }), 90);
    assert.equal(totalTokens({ prompt_tokens: 60, completion_tokens: 30 }), 90);
    assert.equal(totalTokens({}), undefined);
    assert.equal(totalTokens("many"), undefined);
  });
});

describe("status bar", () => {
  const totals = { inputTokens: 1240, maxOutputTokens: 500, costPerCall: 0.0023, costPer1k: 2.3, model: "gpt-4o-mini", catalogEntry: "gpt-4o-mini-2024-07-18", catalogDate: "2025-06-01", text: "≈ 1,240 tokens in · ≤ 500 out" };
  it("text shows tokens and cost per call", () => assert.equal(statusBarText(totals), "$(symbol-numeric) 1,240 tokens · $0.0023/call"));
  it("text without a price shows tokens only", () => assert.equal(statusBarText({ inputTokens: 12, costPerCall: null }), "$(symbol-numeric) 12 tokens"));
  it("tooltip names model, catalog entry and date", () => {
    const tooltip = statusBarTooltip(totals);
    assert.match(tooltip, /Output: at most 500 tokens/);
    assert.match(tooltip, /Cost per 1k calls: \$2\.30/);
    assert.match(tooltip, /Model: gpt-4o-mini \(catalog entry gpt-4o-mini-2024-07-18\)/);
    assert.match(tooltip, /Prices as of 2025-06-01/);
  });
});

describe("summaries", () => {
  it("run", () => {
    assert.equal(runSummary({ run: "r1", status: "completed", tokens: { prompt: 50, completion: 7 }, cost: 0.00012, latency_ms: 830 }), "Run r1 completed · 57 tokens · $0.00012 · 830 ms");
  });
  it("failed run carries the server's message", () => {
    assert.equal(runSummary({ run: "r2", status: "failed", error: { code: "PW204", message: "node x failed" } }), "Run r2 failed: PW204 node x failed");
  });
  it("an error answer without a run name", () => {
    assert.equal(runSummary({ status: "error", error: "flow.dag.yaml:12: node 'x' not found; fix the reference" }), "Run failed: flow.dag.yaml:12: node 'x' not found; fix the reference");
  });
  it("batch counts rows from a list or a number", () => {
    assert.equal(batchSummary({ run: "b1", status: "completed", rows: [{}, {}, {}], failed: 1, cost: 0.5 }), "Batch b1 completed · 3 rows · 1 failed · $0.50");
    assert.equal(batchSummary({ run: "b2", rows: 20 }), "Batch b2 finished · 20 rows");
  });
  it("a cancelled batch shows how many rows were done", () => {
    assert.equal(batchSummary({ run: "b3", status: "canceled", rows: 64, completed: 12, failed: 0, cost: 0.01 }), "Batch b3 canceled · 12/64 rows done · 0 failed · $0.010");
  });
  it("evaluation lists numeric metrics", () => {
    assert.equal(evaluateSummary({ run: "e1", metrics: { groundedness: 4.3, pass_rate: 0.92, note: "x" } }), "Evaluation e1: groundedness 4.30 · pass_rate 0.920");
  });
  it("evaluation in promptwise eval's shape lists pass rates", () => {
    assert.equal(
      evaluateSummary({ run: "e2", metrics: { category_match: { type: "exact_match", mean: 0.969, pass_rate: 0.96875 }, summary_pii: { pass_rate: 1 } } }),
      "Evaluation e2: category_match 96.9% pass · summary_pii 100% pass",
    );
  });
  it("error detail from string or object", () => {
    assert.equal(errorDetail("boom"), "boom");
    assert.equal(errorDetail({ message: "bad key" }), "bad key");
  });
});

describe("request errors", () => {
  it("shows the server's message", () => {
    assert.equal(requestErrorMessage("Running flow.dag.yaml", { code: -32603, message: "flow.dag.yaml:12: node 'x' not found; fix the reference" }), "Running flow.dag.yaml failed: flow.dag.yaml:12: node 'x' not found; fix the reference");
  });
  it("method not found says to update the package", () => {
    assert.match(requestErrorMessage("Evaluating", { code: -32601, message: "x" }), /does not support this command yet.*Update the promptwise package/);
  });
  it("cancelled", () => assert.equal(requestErrorMessage("Evaluating", { code: -32800, message: "" }), "Evaluating was cancelled."));
  it("unknown errors point to the log", () => assert.match(requestErrorMessage("X", undefined), /see the Promptwise output channel/));
});

describe("estimate summary", () => {
  it("one call", () => {
    const estimate = { rows: 1, total: { inputTokens: 904, outputTokens: { upperBound: 1050, expected: 214.4 }, cost: { expected: 0.000264225, upperBound: 0.0007656 } } };
    assert.equal(estimateSummary(estimate), "Estimate: 904 tokens in · ≤ 1,050 out · ≈ $0.00026 · ≤ $0.00077");
  });
  it("over a dataset", () => {
    assert.equal(estimateSummary({ rows: 64, total: { inputTokens: 57856, cost: 0.0312 } }), "Estimate over 64 rows: 57,856 tokens in · ≈ $0.031");
  });
  it("nothing to say without totals", () => assert.equal(estimateSummary({ nodes: [] }), undefined));
});

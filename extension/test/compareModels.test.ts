import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  cancelledSummary,
  CompareProgress,
  compareModelsArgs,
  compareModelsFailure,
  evaluatedRuns,
  metricColumns,
  modelComparisonSummary,
  parseModelComparison,
  parseModels,
} from "../src/compareModels";

const OUTPUT = JSON.stringify({
  node: null, primary_metric: "correct.pass_rate", higher_is_better: true, margin: 0.02,
  models: [
    { model: "gpt-4.1-mini", run: null, primary: null, cost_per_row: null, error: "HTTP 400" },
    { model: "gpt-4o-mini", run: "capitals_1", primary: 0.75, cost_per_row: 0.0000042, error: null },
    { model: "gpt-4o", run: "capitals_2", primary: 0.5, cost_per_row: 0.00015, error: null },
  ],
  recommendation: { model: "gpt-4o-mini", reason: "the cheapest of the models within 0.02 of the best" },
});

describe("Compare Models", () => {
  it("reads the models typed, comma- or space-separated", () => {
    assert.deepEqual(parseModels(" gpt-4o-mini, gpt-4.1-mini  gpt-4o"), { models: ["gpt-4o-mini", "gpt-4.1-mini", "gpt-4o"] });
  });
  it("refuses one model, a repeated one, or an option", () => {
    assert.ok("error" in parseModels("gpt-4o-mini"));
    assert.ok("error" in parseModels("gpt-4o,gpt-4o"));
    assert.ok("error" in parseModels("gpt-4o,--data"));
  });
  it("runs promptwise eval with --models, JSON output and progress lines", () => {
    assert.deepEqual(compareModelsArgs("/w/flow.dag.yaml", ["a", "b"], "/w/data.jsonl"),
      ["-m", "promptwise", "eval", "/w/flow.dag.yaml", "--models", "a,b", "--data", "/w/data.jsonl", "--format", "json", "--progress"]);
    assert.deepEqual(compareModelsArgs("/w/x.prompty", ["a", "b"]), ["-m", "promptwise", "eval", "/w/x.prompty", "--models", "a,b", "--format", "json", "--progress"]);
  });
  it("finds the evaluated runs and says what it recommends and what failed", () => {
    const comparison = parseModelComparison(OUTPUT);
    assert.ok(comparison);
    assert.deepEqual(evaluatedRuns(comparison), ["capitals_1", "capitals_2"]);
    assert.equal(modelComparisonSummary(comparison),
      "Recommended: gpt-4o-mini (the cheapest of the models within 0.02 of the best). Not evaluated: gpt-4.1-mini (the results page says why).");
  });
  it("shows the command's own error when it printed no table", () => {
    assert.equal(parseModelComparison(""), undefined);
    assert.equal(compareModelsFailure("running ...\npromptwise: error: --models gpt-4.1-mimi: not in the model catalog\n"),
      "--models gpt-4.1-mimi: not in the model catalog");
    assert.equal(compareModelsFailure("", "ENOENT"), "ENOENT");
  });
  it("takes the table's metric columns from every model, the primary one included", () => {
    const comparison = parseModelComparison(JSON.stringify({
      primary_metric: "a.pass_rate", margin: 0, recommendation: { model: null, reason: "" },
      models: [
        { model: "m1", run: "r1", primary: 1, cost_per_row: 0, metrics: { "a.pass_rate": 1, "b.mean": 2 } },
        { model: "m2", run: "r2", primary: 1, cost_per_row: 0, metrics: { "a.pass_rate": 1, "c.accuracy": 0.5 } },
        { model: "m3", run: null, primary: null, cost_per_row: null, metrics: {} },
      ],
    }));
    assert.ok(comparison);
    assert.deepEqual(metricColumns(comparison), ["a.pass_rate", "b.mean", "c.accuracy"]);
    assert.deepEqual(metricColumns({ ...comparison, models: [] }), ["a.pass_rate"]);
  });
  it("follows the command's progress from its stderr: which model, its rows, the share done", () => {
    const followed = new CompareProgress(["gpt-4o-mini", "gpt-4.1-mini"]);
    const seen = [
      "Estimate over data.jsonl with the model replaced in every llm node:",
      "running and evaluating with gpt-4o-mini ...",
      "progress gpt-4o-mini: 16/64 rows, 0 failed",
      "progress gpt-4o-mini: 64/64 rows, 2 failed",
      "promptwise: warning: data.jsonl has no column `audience`",
      "running and evaluating with gpt-4.1-mini ...",
      "progress gpt-4.1-mini: 32/64 rows, 0 failed",
      "progress other: 1/2 rows, 0 failed",
      "running and evaluating with gpt-4.1-mini ...",
    ].map((line) => followed.update(line));
    assert.deepEqual(seen, [
      undefined,
      { message: "gpt-4o-mini (1 of 2)", increment: 0 },
      { message: "gpt-4o-mini (1 of 2): 16/64 rows", increment: 12.5 },
      { message: "gpt-4o-mini (1 of 2): 64/64 rows, 2 failed", increment: 37.5 },
      undefined,
      { message: "gpt-4.1-mini (2 of 2)", increment: 0 },
      { message: "gpt-4.1-mini (2 of 2): 32/64 rows", increment: 25 },
      undefined,
      // Never backwards: the bar only grows.
      { message: "gpt-4.1-mini (2 of 2)", increment: 0 },
    ]);
  });
  it("says what a cancelled comparison kept", () => {
    const stderr = "running and evaluating with a ...\npromptwise: interrupted; the finished rows of run r_1 are saved. Continue with: promptwise batch --resume r_1, then promptwise eval --run r_1\npromptwise: models evaluated so far: m0 (r_0)\n";
    assert.equal(cancelledSummary(stderr),
      "Compare Models cancelled: interrupted; the finished rows of run r_1 are saved. Continue with: promptwise batch --resume r_1, then promptwise eval --run r_1; models evaluated so far: m0 (r_0)");
    assert.equal(cancelledSummary(""), "Compare Models cancelled.");
  });
});

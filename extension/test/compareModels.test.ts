import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  compareModelsArgs,
  compareModelsFailure,
  evaluatedRuns,
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
  it("runs promptwise eval with --models and JSON output", () => {
    assert.deepEqual(compareModelsArgs("/w/flow.dag.yaml", ["a", "b"], "/w/data.jsonl"),
      ["-m", "promptwise", "eval", "/w/flow.dag.yaml", "--models", "a,b", "--data", "/w/data.jsonl", "--format", "json"]);
    assert.deepEqual(compareModelsArgs("/w/x.prompty", ["a", "b"]), ["-m", "promptwise", "eval", "/w/x.prompty", "--models", "a,b", "--format", "json"]);
  });
  it("finds the evaluated runs and says what it recommends and what failed", () => {
    const comparison = parseModelComparison(OUTPUT);
    assert.ok(comparison);
    assert.deepEqual(evaluatedRuns(comparison), ["capitals_1", "capitals_2"]);
    assert.equal(modelComparisonSummary(comparison),
      "Recommended: gpt-4o-mini (the cheapest of the models within 0.02 of the best). Not evaluated: gpt-4.1-mini (see the log).");
  });
  it("shows the command's own error when it printed no table", () => {
    assert.equal(parseModelComparison(""), undefined);
    assert.equal(compareModelsFailure("running ...\npromptwise: error: --models gpt-4.1-mimi: not in the model catalog\n"),
      "--models gpt-4.1-mimi: not in the model catalog");
    assert.equal(compareModelsFailure("", "ENOENT"), "ENOENT");
  });
});

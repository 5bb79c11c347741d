import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cli, flowRow, outcomeLine, shiftWeights, versionRow, type DeployedFlow, type DeployedVersion } from "../src/deployTree";

function version(n: number, extra: Partial<DeployedVersion> = {}): DeployedVersion {
  return { version: `triage:v${n}`, number: n, created_at: 1_780_000_000, created_by: "alice", targets: [], weight: null, live: null, metrics: {}, evaluation: null, ...extra };
}

const flow: DeployedFlow = {
  name: "triage",
  source: "/w/triage",
  versions: [
    version(3),
    version(2, { targets: ["kubernetes"], weight: 30, live: { requests: 12, p95_ms: 1130, error_rate: 0.004, cost_usd: 3.2 }, metrics: { relevance: 0.917 }, evaluation: "eval-1" }),
    version(1, { targets: ["docker"], weight: 70 }),
  ],
};

describe("tree rows", () => {
  it("a version says where it runs, its weight, live figures and metrics", () => {
    const row = versionRow(flow.versions[1]);
    assert.equal(row.label, "v2");
    assert.equal(row.description, "kubernetes · 30% · p95 1.1 s · 0.4% errors · relevance 0.92");
    assert.equal(row.contextValue, "promptwise.version.serving");
    assert.match(row.tooltip, /last 24 h: 12 requests/);
    assert.match(row.tooltip, /evaluation eval-1: relevance 0.92/);
  });

  it("a version with nothing has an empty description and says so in the tooltip", () => {
    const row = versionRow(flow.versions[0]);
    assert.equal(row.description, "");
    assert.equal(row.contextValue, "promptwise.version");
    assert.match(row.tooltip, /not deployed to a target\nno share of the served traffic\nno traffic in the last 24 h\nnot evaluated/);
  });

  it("a flow counts its versions and the served shares", () => {
    assert.equal(flowRow(flow).description, "3 versions · serve: v2 30% · v1 70%");
  });
});

describe("shiftWeights", () => {
  it("gives the rest to the serving versions in proportion", () => {
    assert.deepEqual(shiftWeights(flow, "triage:v3", 10), { "triage:v3": 10, "triage:v2": 27, "triage:v1": 63 });
    assert.deepEqual(shiftWeights(flow, "triage:v2", 50), { "triage:v2": 50, "triage:v1": 50 });
    assert.deepEqual(shiftWeights(flow, "triage:v3", 100), { "triage:v3": 100 });
    assert.deepEqual(shiftWeights(flow, "triage:v2", 0), { "triage:v1": 100 });
  });

  it("refuses a bad percent or a rest with nowhere to go", () => {
    assert.throws(() => shiftWeights(flow, "triage:v3", 101), /whole percent/);
    const alone: DeployedFlow = { ...flow, versions: [version(1)] };
    assert.throws(() => shiftWeights(alone, "triage:v1", 40), /use Promote/);
  });
});

describe("cli", () => {
  it("runs the rollout and deploy verbs on the flow's path", () => {
    assert.deepEqual(cli.promote(flow, "triage:v2"), ["-m", "promptwise", "rollout", "promote", "/w/triage", "triage:v2"]);
    assert.deepEqual(cli.rollback(flow), ["-m", "promptwise", "rollout", "rollback", "/w/triage"]);
    assert.deepEqual(cli.setWeights(flow, { "triage:v2": 40, "triage:v1": 60 }), ["-m", "promptwise", "rollout", "set", "/w/triage", "triage:v2=40", "triage:v1=60"]);
    assert.deepEqual(cli.deploy(flow, "triage:v2", "docker"), ["-m", "promptwise", "deploy", "/w/triage", "--target", "docker", "--version", "triage:v2"]);
  });

  it("reports the error line, else the last line", () => {
    assert.equal(outcomeLine("deployed\n", "error: the weights add up to 90\nhint\n"), "error: the weights add up to 90");
    assert.equal(outcomeLine("packaged\nrollout: v2 100%\n", ""), "rollout: v2 100%");
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  askDeploy,
  cli,
  defaultOutFolder,
  DEPLOY_NOW,
  deployArgs,
  flowRow,
  imageError,
  outcomeLine,
  shiftWeights,
  versionRow,
  weightError,
  WRITE_OUT,
  type Asker,
  type DeployedFlow,
  type DeployedVersion,
  type PickItem,
} from "../src/deployTree";

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
    assert.deepEqual(cli.deploy(flow, { version: "triage:v2", target: "docker" }), ["-m", "promptwise", "deploy", "/w/triage", "--target", "docker", "--version", "triage:v2"]);
  });

  it("reports the error line, else the last line", () => {
    assert.equal(outcomeLine("deployed\n", "error: the weights add up to 90\nhint\n"), "error: the weights add up to 90");
    assert.equal(outcomeLine("packaged\nrollout: v2 100%\n", ""), "rollout: v2 100%");
  });
});


describe("deploy arguments", () => {
  const base = ["-m", "promptwise", "deploy", "/w/triage"];

  it("passes weight, image and out when chosen", () => {
    assert.deepEqual(deployArgs(flow, { version: "triage:v3", target: "kubernetes", weight: 10, image: "acme.io/triage", out: "/w/deploy/k" }), [
      ...base, "--target", "kubernetes", "--version", "triage:v3", "--weight", "10", "--image", "acme.io/triage", "--out", "/w/deploy/k",
    ]);
    assert.deepEqual(deployArgs(flow, { version: "triage:v3", target: "azureml", weight: 0 }), [...base, "--target", "azureml", "--version", "triage:v3", "--weight", "0"]);
  });

  it("refuses a weight for docker, a bad weight and an unknown target", () => {
    assert.throws(() => deployArgs(flow, { version: "triage:v3", target: "docker", weight: 10 }), /docker target runs one version/);
    assert.throws(() => deployArgs(flow, { version: "triage:v3", target: "kubernetes", weight: 101 }), /whole percent/);
    assert.throws(() => deployArgs(flow, { version: "triage:v3", target: "heroku" as "docker" }), /unknown target heroku/);
  });

  it("validates what is typed", () => {
    assert.equal(weightError("40"), undefined);
    assert.equal(weightError(" 100 "), undefined);
    for (const bad of ["", "101", "-1", "4.5", "ten"]) assert.match(weightError(bad) ?? "", /whole percent/, bad);
    assert.equal(imageError(""), undefined);
    assert.equal(imageError("acme.azurecr.io/triage:v7"), undefined);
    assert.ok(imageError("acme.io/a b"));
    assert.ok(imageError("https://acme.io/triage"));
  });

  it("suggests an out folder per version and target", () => {
    assert.equal(defaultOutFolder("triage:v3", "kubernetes"), "deploy/triage-v3-kubernetes");
    assert.equal(defaultOutFolder("my flow:v1", "azureml"), "deploy/my-flow-v1-azureml");
  });
});

/** An Asker answering from a script: each question takes the next answer and is recorded. */
function scripted(answers: (string | undefined)[]): Asker & { asked: string[]; offered: PickItem[][]; validators: ((text: string) => string | undefined)[] } {
  const asked: string[] = [];
  const offered: PickItem[][] = [];
  const validators: ((text: string) => string | undefined)[] = [];
  const next = () => {
    if (!answers.length) throw new Error(`no answer left for question ${asked.length}: ${asked[asked.length - 1]}`);
    return answers.shift();
  };
  return {
    asked,
    offered,
    validators,
    async pick(items, title) {
      asked.push(`pick: ${title}`);
      offered.push(items);
      const answer = next();
      if (answer === undefined) return undefined;
      const item = items.find((i) => i.label === answer);
      if (!item) throw new Error(`"${answer}" is not offered for "${title}": ${items.map((i) => i.label).join(", ")}`);
      return item;
    },
    async input({ title, value, validate }) {
      asked.push(`input: ${title} [${value}]`);
      validators.push(validate);
      const answer = next();
      if (answer === undefined) return undefined;
      const text = answer === "" ? value : answer; // "" takes the offered value, as Enter does
      assert.equal(validate(text), undefined, `the box would refuse "${text}"`);
      return text;
    },
  };
}

describe("Deploy… questions", () => {
  it("kubernetes: version, target, weight, image, then a folder for --out", async () => {
    const ask = scripted(["triage:v3", "kubernetes", "25", "acme.io/triage", WRITE_OUT, ""]);
    const choice = await askDeploy(flow, ask);
    assert.deepEqual(choice, { version: "triage:v3", target: "kubernetes", weight: 25, image: "acme.io/triage", out: "deploy/triage-v3-kubernetes" });
    assert.deepEqual(ask.offered[0].map((i) => i.label), ["triage:v3", "triage:v2", "triage:v1"]);
    assert.deepEqual(ask.offered[1].map((i) => i.label), ["docker", "kubernetes", "azureml"]);
    assert.equal(ask.asked.length, 6);
  });

  it("docker: no weight question; a given version is not asked; Deploy now has no --out", async () => {
    const ask = scripted(["docker", "", DEPLOY_NOW]);
    const choice = await askDeploy(flow, ask, { version: "triage:v2" });
    assert.deepEqual(choice, { version: "triage:v2", target: "docker" });
    assert.ok(!ask.asked.some((q) => /share|traffic/.test(q)), ask.asked.join(" | "));
    assert.deepEqual(cli.deploy(flow, choice!), ["-m", "promptwise", "deploy", "/w/triage", "--target", "docker", "--version", "triage:v2"]);
  });

  it("the default weight of 100 leaves --weight off (the CLI's default)", async () => {
    const choice = await askDeploy(flow, scripted(["azureml", "", "", DEPLOY_NOW]), { version: "triage:v3" });
    assert.deepEqual(choice, { version: "triage:v3", target: "azureml" });
  });

  it("escaping any question deploys nothing", async () => {
    for (let n = 0; n < 6; n++) {
      const answers: (string | undefined)[] = ["triage:v3", "kubernetes", "25", "", WRITE_OUT, ""].slice(0, n);
      answers.push(undefined);
      assert.equal(await askDeploy(flow, scripted(answers)), undefined, `escape at question ${n + 1}`);
    }
  });

  it("the folder box says when the folder is not usable", async () => {
    const ask = scripted(["kubernetes", "", "", WRITE_OUT, "deploy/new"]);
    await askDeploy(flow, ask, { version: "triage:v3", outError: (text) => (text === "deploy/full" ? "deploy/full is not empty" : undefined) });
    const folderCheck = ask.validators[ask.validators.length - 1];
    assert.equal(folderCheck("deploy/full"), "deploy/full is not empty");
    assert.equal(folderCheck("  "), "a folder");
    assert.equal(folderCheck("deploy/new"), undefined);
  });
});

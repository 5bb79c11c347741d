// The Deployments view's pure parts (no vscode import, unit-tested under node --test): the
// server's `promptwise.deployments` answer, the tree rows it becomes, and the CLI verbs the
// view's actions run (rollout promote | set | rollback, deploy) with the server's interpreter,
// and Deploy…'s questions (askDeploy, driven through an Asker so tests can script the answers).

export interface LiveFigures {
  requests: number;
  p95_ms: number | null;
  error_rate: number;
  cost_usd: number | null;
}

export interface DeployedVersion {
  version: string;
  number: number;
  created_at: number;
  created_by: string;
  targets: string[];
  weight: number | null;
  live: LiveFigures | null;
  metrics: Record<string, number>;
  evaluation: string | null;
}

export interface DeployedFlow {
  name: string;
  source: string;
  versions: DeployedVersion[];
}

export interface DeploymentsAnswer {
  status: "ok" | "error";
  error?: string;
  registry?: string;
  flows?: DeployedFlow[];
}

export const TARGETS = ["docker", "kubernetes", "azureml"] as const;

export interface Row {
  label: string;
  description: string;
  tooltip: string;
  /** For the context menus: "promptwise.flow", or "promptwise.version" + ".serving" when it has weight. */
  contextValue: string;
}

function seconds(ms: number | null): string {
  if (ms === null || ms === undefined) return "-";
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function shortVersion(id: string): string {
  return id.includes(":") ? id.slice(id.lastIndexOf(":") + 1) : id;
}

export function flowRow(flow: DeployedFlow): Row {
  const serving = flow.versions.filter((v) => (v.weight ?? 0) > 0).map((v) => `${shortVersion(v.version)} ${v.weight}%`);
  return {
    label: flow.name,
    description: `${flow.versions.length} version${flow.versions.length === 1 ? "" : "s"}${serving.length ? ` · serve: ${serving.join(" · ")}` : ""}`,
    tooltip: flow.source,
    contextValue: "promptwise.flow",
  };
}

/** "v7 · docker, kubernetes · 80% · p95 1.1 s · 0.4% errors · relevance 0.92". */
export function versionRow(version: DeployedVersion): Row {
  const parts: string[] = [];
  if (version.targets.length) parts.push(version.targets.join(", "));
  if (version.weight) parts.push(`${version.weight}%`);
  if (version.live && version.live.requests) {
    parts.push(`p95 ${seconds(version.live.p95_ms)}`, `${(version.live.error_rate * 100).toFixed(1)}% errors`);
  }
  const metrics = Object.entries(version.metrics ?? {}).map(([name, value]) => `${name} ${Number(value).toFixed(2)}`);
  parts.push(...metrics);
  const created = new Date(version.created_at * 1000).toISOString().replace("T", " ").slice(0, 16);
  const tooltip = [
    `${version.version}, packaged ${created} UTC by ${version.created_by}`,
    version.targets.length ? `runs in ${version.targets.join(", ")}` : "not deployed to a target",
    version.weight ? `rollout weight ${version.weight}%` : "no share of the served traffic",
    version.live && version.live.requests
      ? `last 24 h: ${version.live.requests} requests, p95 ${seconds(version.live.p95_ms)}, ${(version.live.error_rate * 100).toFixed(1)}% errors`
      : "no traffic in the last 24 h",
    version.evaluation ? `evaluation ${version.evaluation}: ${metrics.join(", ") || "no metrics"}` : "not evaluated",
  ].join("\n");
  return {
    label: shortVersion(version.version),
    description: parts.join(" · "),
    tooltip,
    contextValue: version.weight ? "promptwise.version.serving" : "promptwise.version",
  };
}

/**
 * The weights after giving `version` `percent`: the versions serving now share the rest in
 * proportion to their weights (whole percents, the remainder to the heaviest). Throws when
 * the rest has nowhere to go.
 */
export function shiftWeights(flow: DeployedFlow, version: string, percent: number): Record<string, number> {
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new Error(`a weight is a whole percent 0-100, not ${percent}`);
  const others = flow.versions.filter((v) => v.version !== version && (v.weight ?? 0) > 0);
  if (percent === 100) return { [version]: 100 };
  if (!others.length) throw new Error(`no other version of ${flow.name} serves traffic to take the other ${100 - percent}%: use Promote`);
  const total = others.reduce((sum, v) => sum + (v.weight ?? 0), 0);
  const rest = 100 - percent;
  const weights: Record<string, number> = {};
  if (percent > 0) weights[version] = percent;
  let given = 0;
  for (const other of others) {
    weights[other.version] = Math.floor((rest * (other.weight ?? 0)) / total);
    given += weights[other.version];
  }
  const heaviest = others.reduce((a, b) => ((b.weight ?? 0) > (a.weight ?? 0) ? b : a));
  weights[heaviest.version] += rest - given;
  for (const key of Object.keys(weights)) if (weights[key] === 0) delete weights[key];
  return weights;
}

/** The CLI's arguments (after the interpreter) for each action of the view. */
export const cli = {
  promote: (flow: DeployedFlow, version: string) => ["-m", "promptwise", "rollout", "promote", flow.source, version],
  rollback: (flow: DeployedFlow) => ["-m", "promptwise", "rollout", "rollback", flow.source],
  setWeights: (flow: DeployedFlow, weights: Record<string, number>) => [
    "-m", "promptwise", "rollout", "set", flow.source, ...Object.entries(weights).map(([v, w]) => `${v}=${w}`),
  ],
  deploy: (flow: DeployedFlow, choice: DeployChoice) => deployArgs(flow, choice),
};

// ---- Deploy…: the choices, their command line and the questions that make them ----------------

export type Target = (typeof TARGETS)[number];

/** What Deploy… asks for: `weight` only for targets that split traffic, `out` to write artefacts only. */
export interface DeployChoice {
  version: string;
  target: Target;
  weight?: number;
  image?: string;
  out?: string;
}

/** The targets that split traffic between versions (`--weight`); docker runs one version and refuses it. */
export function splitsTraffic(target: string): boolean {
  return target === "kubernetes" || target === "azureml";
}

/** `promptwise deploy FLOW --target T --version V [--weight N] [--image REF] [--out DIR]`. */
export function deployArgs(flow: DeployedFlow, choice: DeployChoice): string[] {
  if (!(TARGETS as readonly string[]).includes(choice.target)) throw new Error(`unknown target ${choice.target}: one of ${TARGETS.join(", ")}`);
  const args = ["-m", "promptwise", "deploy", flow.source, "--target", choice.target, "--version", choice.version];
  if (choice.weight !== undefined) {
    if (!splitsTraffic(choice.target)) throw new Error(`the ${choice.target} target runs one version and takes no weight`);
    const error = weightError(String(choice.weight));
    if (error) throw new Error(error);
    args.push("--weight", String(choice.weight));
  }
  if (choice.image) args.push("--image", choice.image);
  if (choice.out) args.push("--out", choice.out);
  return args;
}

/** Why `text` is not a weight (a whole percent 0-100), or undefined when it is one. */
export function weightError(text: string): string | undefined {
  return /^\d{1,3}$/.test(text.trim()) && Number(text.trim()) <= 100 ? undefined : "a whole percent 0-100";
}

/** Why `text` is not an image reference (no spaces, no scheme), or undefined; empty means "from settings". */
export function imageError(text: string): string | undefined {
  const value = text.trim();
  if (!value) return undefined;
  if (/\s/.test(value) || /^[a-z]+:\/\//i.test(value)) return "an image reference such as acme.azurecr.io/triage:v7 (no spaces, no https://)";
  return undefined;
}

/** Where --out writes by default: `deploy/NAME-vN-TARGET`, relative to the workspace folder. */
export function defaultOutFolder(version: string, target: string): string {
  const [name, number] = version.includes(":") ? [version.slice(0, version.lastIndexOf(":")), version.slice(version.lastIndexOf(":") + 1)] : [version, ""];
  return ["deploy", `${[name, number, target].filter(Boolean).join("-")}`.replace(/[^A-Za-z0-9._-]+/g, "-")].join("/");
}

export interface PickItem {
  label: string;
  description?: string;
  detail?: string;
}

/** The two questions Deploy… asks (a quick pick, an input box): vscode's in the view, scripted in tests. */
export interface Asker {
  pick(items: PickItem[], title: string): Promise<PickItem | undefined>;
  input(options: { title: string; prompt: string; value: string; validate: (text: string) => string | undefined }): Promise<string | undefined>;
}

const TARGET_ITEMS: Record<Target, PickItem> = {
  docker: { label: "docker", description: "one container image (build, and push with deploy.docker.registry)" },
  kubernetes: { label: "kubernetes", description: "Deployment, Service, HPA, PDB and a weighted HTTPRoute" },
  azureml: { label: "azureml", description: "a managed online endpoint with one deployment per version" },
};

export const DEPLOY_NOW = "Deploy now";
export const WRITE_OUT = "Write the artefacts to a folder (--out)";

/**
 * Deploy…'s questions in order: version (unless given), target, weight (targets that split
 * traffic), image, then deploy now or write the artefacts to a folder. Undefined when the user
 * escapes any of them. `outError` checks the folder (the view: it must be new or empty).
 */
export async function askDeploy(
  flow: DeployedFlow,
  ask: Asker,
  given: { version?: string; outError?: (text: string) => string | undefined } = {},
): Promise<DeployChoice | undefined> {
  let version = given.version;
  if (!version) {
    const pick = await ask.pick(
      flow.versions.map((v) => ({ label: v.version, description: versionRow(v).description })),
      `Deploy which version of ${flow.name}?`,
    );
    version = pick?.label;
  }
  if (!version) return undefined;
  const targetPick = await ask.pick(TARGETS.map((target) => TARGET_ITEMS[target]), `Deploy ${version} to…`);
  const target = TARGETS.find((t) => t === targetPick?.label);
  if (!target) return undefined;
  const choice: DeployChoice = { version, target };
  if (splitsTraffic(target)) {
    const weight = await ask.input({
      title: `${version}'s share of the ${target} traffic`,
      prompt: "Percent 0-100; the version deployed before it keeps the rest (100: it takes all the traffic)",
      value: "100",
      validate: weightError,
    });
    if (weight === undefined) return undefined;
    // 100 is the CLI's default: left off, the command line says only what was chosen.
    if (Number(weight.trim()) !== 100) choice.weight = Number(weight.trim());
  }
  const image = await ask.input({
    title: `The container image ${version} runs as (optional)`,
    prompt: `Empty: from deploy.${target} in promptwise.yaml; a reference without a tag is tagged with the version`,
    value: "",
    validate: imageError,
  });
  if (image === undefined) return undefined;
  if (image.trim()) choice.image = image.trim();
  const where = await ask.pick(
    [
      { label: DEPLOY_NOW, description: target === "docker" ? "build (and push) the image" : target === "kubernetes" ? "apply to the current kubeconfig context" : "create it in the Azure ML workspace" },
      { label: WRITE_OUT, description: "change nothing else; review or apply them yourself" },
    ],
    `Deploy ${version} to ${target} now, or write its artefacts?`,
  );
  if (!where) return undefined;
  if (where.label === WRITE_OUT) {
    const out = await ask.input({
      title: "Folder for the artefacts",
      prompt: "A new or empty folder (relative paths: from the workspace folder)",
      value: defaultOutFolder(version, target),
      validate: (text) => (text.trim() ? given.outError?.(text.trim()) : "a folder"),
    });
    if (out === undefined) return undefined;
    choice.out = out.trim();
  }
  return choice;
}

/** The last meaningful line of a CLI's output: what a notification says. */
export function outcomeLine(stdout: string, stderr: string): string {
  const lines = `${stderr}\n${stdout}`.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
  const error = lines.find((line) => /^(error|promptwise: error)/i.test(line));
  return error ?? lines[lines.length - 1] ?? "";
}

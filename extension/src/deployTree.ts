// The Deployments view's pure parts (no vscode import, unit-tested under node --test): the
// server's `promptwise.deployments` answer, the tree rows it becomes, and the CLI verbs the
// view's actions run (rollout promote | set | rollback, deploy) with the server's interpreter.

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
  deploy: (flow: DeployedFlow, version: string, target: string) => [
    "-m", "promptwise", "deploy", flow.source, "--target", target, "--version", version,
  ],
};

/** The last meaningful line of a CLI's output: what a notification says. */
export function outcomeLine(stdout: string, stderr: string): string {
  const lines = `${stderr}\n${stdout}`.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
  const error = lines.find((line) => /^(error|promptwise: error)/i.test(line));
  return error ?? lines[lines.length - 1] ?? "";
}

// The language server's surface as the client sees it (team PLAN.md, "LSP surface"): command
// ids, their one-object arguments, result shapes, and the custom request. No vscode import.
import * as path from "node:path";

export const ServerCommand = {
  runFlow: "promptwise.runFlow",
  batchRun: "promptwise.batchRun",
  evaluate: "promptwise.evaluate",
  estimateCost: "promptwise.estimateCost",
  compareRuns: "promptwise.compareRuns",
  showRun: "promptwise.showRun",
  cancel: "promptwise.cancel",
} as const;

/** Commands the client alone handles. */
export const ClientCommand = {
  restartServer: "promptwise.restartServer",
  showLog: "promptwise.showLog",
} as const;

export const DOCUMENT_TOTALS_REQUEST = "promptwise/documentTotals";

export type JsonObject = { [key: string]: unknown };

export interface RunFlowArgs {
  uri: string;
  inputs?: JsonObject;
  variants?: unknown;
}
export interface BatchRunArgs {
  uri: string;
  data: string;
  name?: string;
  concurrency?: number;
}
export interface EvaluateArgs {
  uri: string;
  data?: string;
  run?: string;
}
export interface EstimateCostArgs {
  uri: string;
  data?: string;
}
export interface CompareRunsArgs {
  runs: string[];
}
export interface ShowRunArgs {
  run: string;
  /** An evaluation of the run (`RUN.evalN`); the server shows the latest one when absent. */
  evaluation?: string;
  uri?: string;
}
export interface CancelArgs {
  token: string;
}

export interface RunFlowResult {
  run?: string;
  status?: string;
  outputs?: unknown;
  tokens?: unknown;
  cost?: number | null;
  latency_ms?: number | null;
  error?: unknown;
}
export interface BatchRunResult {
  run?: string;
  status?: string;
  /** Rows in the dataset (or the row results). */
  rows?: unknown;
  /** Rows finished, when the batch stopped early. */
  completed?: number;
  failed?: number;
  tokens?: unknown;
  cost?: number | null;
}
export interface EvaluateResult {
  run?: string;
  metrics?: Record<string, unknown>;
}

export interface DocumentTotals {
  inputTokens: number;
  maxOutputTokens?: number | null;
  costPerCall?: number | null;
  costPer1k?: number | null;
  model?: string | null;
  catalogEntry?: string | null;
  catalogDate?: string | null;
  text?: string | null;
}

/** Files the server understands and whose commands run a flow or a prompt. */
export function isFlowFile(fsPath: string): boolean {
  const name = fsPath.split(/[\\/]/).pop() ?? "";
  return name === "flow.dag.yaml" || name === "flow.flex.yaml" || name.endsWith(".prompty");
}

/** Files the status bar asks totals for: flows, prompts and Jinja templates. */
export function hasDocumentTotals(fsPath: string): boolean {
  return isFlowFile(fsPath) || /\.(jinja2|j2)$/.test(fsPath);
}

/**
 * A command invoked from a code lens carries the server's own argument object; from the palette
 * it carries nothing (or a vscode.Uri from a menu). Returns the server's object when given one.
 */
export function lensArguments(arg: unknown): JsonObject | undefined {
  if (arg && typeof arg === "object" && !Array.isArray(arg)) {
    const candidate = arg as JsonObject;
    // A vscode.Uri has `scheme` and `fsPath`; the server's objects carry `uri`, `run` (a name, or
    // the names a results row's Show trace tries in order) or `runs`, and a trace link (an
    // alert's Open Trace, a vscode://…/trace?id= link) a bare `trace_id`.
    if (
      typeof candidate.uri === "string" ||
      typeof candidate.run === "string" ||
      Array.isArray(candidate.run) ||
      Array.isArray(candidate.runs) ||
      typeof candidate.trace_id === "string"
    ) {
      return candidate;
    }
  }
  return undefined;
}

export function runFlowArgs(uri: string, inputs?: JsonObject, base?: JsonObject): RunFlowArgs {
  const args: RunFlowArgs = { ...(base ?? {}), uri };
  if (inputs !== undefined) args.inputs = inputs;
  return args;
}

export function batchRunArgs(uri: string, data: string, options: { name?: string; concurrency?: number } = {}): BatchRunArgs {
  const args: BatchRunArgs = { uri, data };
  if (options.name) args.name = options.name;
  if (options.concurrency !== undefined && options.concurrency > 0) args.concurrency = options.concurrency;
  return args;
}

export function evaluateArgs(uri: string, source: { data?: string; run?: string }): EvaluateArgs {
  const args: EvaluateArgs = { uri };
  if (source.data) args.data = source.data;
  if (source.run) args.run = source.run;
  return args;
}

export function estimateCostArgs(uri: string, data?: string): EstimateCostArgs {
  return data ? { uri, data } : { uri };
}

/**
 * Show Run: the run's name, plus what an evaluation lens knows — which evaluation to show and
 * the document it sits on (the server finds the run store from that document's workspace).
 */
export function showRunArgs(run: string, lens?: JsonObject): ShowRunArgs {
  const args: ShowRunArgs = { run };
  if (typeof lens?.evaluation === "string" && lens.evaluation !== "") args.evaluation = lens.evaluation;
  if (typeof lens?.uri === "string" && lens.uri !== "") args.uri = lens.uri;
  return args;
}

/** The evaluation a Show Run result holds (`RUN.evalN`), or undefined for a run never evaluated. */
export function evaluationShown(result: unknown): string | undefined {
  if (!result || typeof result !== "object" || Array.isArray(result)) return undefined;
  const evaluation = (result as JsonObject).evaluation;
  return typeof evaluation === "string" && evaluation !== "" ? evaluation : undefined;
}

/**
 * The answer to `promptwise.showTrace`: a trace document, recognised by its `spans` list, or the
 * server's `{status: "error", error}` when it found no trace. A document's own `status` is the
 * trace's ("error" for a request or row that failed): such a trace is the one a user most wants
 * to see, so it must never be read as a failed request.
 */
export function showTraceAnswer<T extends { spans: unknown[] }>(answer: unknown): { trace: T } | { error: string } {
  if (answer && typeof answer === "object" && !Array.isArray(answer)) {
    const candidate = answer as JsonObject;
    if (Array.isArray(candidate.spans)) return { trace: candidate as unknown as T };
    if (typeof candidate.error === "string" && candidate.error !== "") return { error: candidate.error };
  }
  return { error: "the server answered without a trace; see the Promptwise output (Promptwise: Show Server Log)" };
}

/** Run names for Compare Runs, from picks and/or a comma- or space-separated text. */
export function compareRunsArgs(names: string[]): CompareRunsArgs {
  const runs = [...new Set(names.flatMap((name) => name.split(/[\s,]+/)).filter((name) => name !== ""))];
  if (runs.length < 2) {
    throw new Error(`Compare Runs needs at least two run names; got ${runs.length === 0 ? "none" : `only "${runs[0]}"`}.`);
  }
  return { runs };
}

/**
 * Parses the Run Flow input box: a JSON object (`{"question": "hi"}`). Returns the object or a
 * message saying what is wrong and what to type instead.
 */
export function parseInputs(text: string): { inputs: JsonObject } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === "") return { inputs: {} };
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { error: `Inputs are not valid JSON (${reason}); type an object such as {"question": "What is covered?"}.` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { error: `Inputs must be a JSON object of input names to values, such as {"question": "What is covered?"}; got ${describeJson(value)}.` };
  }
  return { inputs: value as JsonObject };
}

function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

/**
 * Datasets ordered for a pick: the flow's own folder first, then its subfolders by depth, then
 * the rest of the workspace; alphabetical within a level.
 */
export function nearestFirst(flowDir: string, files: string[]): string[] {
  const distance = (file: string): number => {
    const relative = path.relative(flowDir, path.dirname(file));
    if (relative === "") return 0;
    const depth = relative.split(path.sep).length;
    return relative.startsWith("..") ? 1000 + depth : depth;
  };
  return [...files].sort((a, b) => distance(a) - distance(b) || a.localeCompare(b));
}

/** The argument object with the work-done token the server reports progress on and cancels by. */
export function withWorkDoneToken<T extends object>(args: T, token: string): T & { workDoneToken: string } {
  return { ...args, workDoneToken: token };
}

/** How a command ended: the server answers failures as `{status: "error", error}`, not as errors. */
export function outcomeKind(status: string | undefined, error: unknown): "ok" | "cancelled" | "failed" {
  if (status && /^cancel{1,2}ed$/i.test(status)) return "cancelled";
  if (error || (status && /^(error|failed|failure)$/i.test(status))) return "failed";
  return "ok";
}

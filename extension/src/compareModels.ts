// "Compare Models…": run `promptwise eval FLOW --models A,B --format json` with the server's
// interpreter (cancellable), then show its table and recommendation in the results page. Kept
// free of the vscode API so the unit tests can check it.

export const COMPARE_MODELS = "promptwise.compareModels";
export const DEFAULT_MODELS = "gpt-4o-mini,gpt-4.1-mini";

/** The models typed in the input box (comma- or space-separated), or why they cannot be used. */
export function parseModels(text: string): { models: string[] } | { error: string } {
  const models = text.split(/[\s,]+/).map((m) => m.trim()).filter(Boolean);
  if (models.length < 2) return { error: "name at least two models, e.g. gpt-4o-mini, gpt-4.1-mini" };
  const repeated = models.filter((m, i) => models.indexOf(m) !== i);
  if (repeated.length) return { error: `${repeated[0]} is named twice; name each model once` };
  if (models.some((m) => m.startsWith("-"))) return { error: "a model name cannot start with '-'" };
  return { models };
}

/**
 * Arguments for the Python interpreter: `-m promptwise eval FLOW --models A,B [--data D] --format
 * json --progress` (progress lines on stderr as rows finish, for the notification).
 */
export function compareModelsArgs(flow: string, models: string[], data?: string): string[] {
  return ["-m", "promptwise", "eval", flow, "--models", models.join(","), ...(data ? ["--data", data] : []), "--format", "json", "--progress"];
}

export interface ModelRow {
  model: string;
  run: string | null;
  evaluation?: string | null;
  /** The evaluators' main figures: `category_match.pass_rate`, `triage_classes.accuracy`, ... */
  metrics?: Record<string, number | null>;
  primary: number | null;
  cost_per_row: number | null;
  latency_p50_ms?: number | null;
  latency_p95_ms?: number | null;
  rows_failed?: number | null;
  eval_errors?: number | null;
  error?: string | null;
  /** The estimate made before any call (USD over the whole dataset). */
  estimate?: { cost_expected?: number | null; cost_upper?: number | null };
}

export interface ModelComparison {
  node?: string | null;
  primary_metric: string | null;
  higher_is_better?: boolean;
  margin: number;
  models: ModelRow[];
  recommendation: { model: string | null; reason: string };
}

/** The JSON `eval --models` printed, or undefined when it printed none (a usage error). */
export function parseModelComparison(stdout: string): ModelComparison | undefined {
  try {
    const data = JSON.parse(stdout) as ModelComparison;
    return Array.isArray(data?.models) ? data : undefined;
  } catch {
    return undefined;
  }
}

/** The evaluated runs, in the order the models were named (for Compare Runs). */
export function evaluatedRuns(comparison: ModelComparison): string[] {
  return comparison.models.map((m) => m.run).filter((run): run is string => typeof run === "string" && run !== "");
}

/** One line for the notification: the recommendation and the models that could not be run. */
export function modelComparisonSummary(comparison: ModelComparison): string {
  const { model, reason } = comparison.recommendation;
  const failed = comparison.models.filter((m) => !m.run).map((m) => m.model);
  const head = model ? `Recommended: ${model} (${reason}).` : `No recommendation: ${reason}.`;
  return failed.length ? `${head} Not evaluated: ${failed.join(", ")} (the results page says why).` : head;
}

/** The one line to show when the command printed no table: its own message, not a traceback. */
export function compareModelsFailure(stderr: string, detail?: string): string {
  const lines = stderr.split("\n").map((line) => line.trim()).filter((line) => line.startsWith("promptwise: error:"));
  const last = lines.length ? lines[lines.length - 1] : "";
  return (last || detail || "promptwise eval --models failed").replace(/^promptwise: (error: )?/, "");
}

/** The metric columns of the table: every model's figures, in the order the CLI gave them. */
export function metricColumns(comparison: ModelComparison): string[] {
  const names: string[] = [];
  for (const row of comparison.models) for (const name of Object.keys(row.metrics ?? {})) if (!names.includes(name)) names.push(name);
  if (comparison.primary_metric && !names.includes(comparison.primary_metric)) names.unshift(comparison.primary_metric);
  return names;
}

/**
 * The notification's progress from the command's stderr: `running and evaluating with MODEL ...`
 * as each model starts, then `progress MODEL: DONE/TOTAL rows, N failed` (`--progress`) as its rows
 * finish. `update` returns the message and the increment (VS Code adds them up to 100) for a line
 * that says something, else undefined.
 */
export class CompareProgress {
  private percent = 0;

  constructor(private readonly models: string[]) {}

  update(line: string): { message: string; increment: number } | undefined {
    const text = line.trim();
    const started = /^running and evaluating with (\S+) \.\.\.$/.exec(text);
    const rows = /^progress (\S+): (\d+)\/(\d+) rows, (\d+) failed$/.exec(text);
    const model = started?.[1] ?? rows?.[1];
    const index = model === undefined ? -1 : this.models.indexOf(model);
    if (index < 0) return undefined;
    const place = `${model} (${index + 1} of ${this.models.length})`;
    let message = place;
    let share = 0;
    if (rows) {
      const [done, total, failed] = [Number(rows[2]), Number(rows[3]), Number(rows[4])];
      share = total > 0 ? Math.min(1, done / total) : 0;
      message = `${place}: ${done}/${total} rows${failed ? `, ${failed} failed` : ""}`;
    }
    const percent = ((index + share) / this.models.length) * 100;
    const increment = Math.max(0, percent - this.percent);
    this.percent = Math.max(this.percent, percent);
    return { message, increment };
  }
}

/** After Cancel: what the CLI said was kept (`promptwise: interrupted; the finished rows of run ...`). */
export function cancelledSummary(stderr: string): string {
  const said = stderr.split("\n").map((line) => line.trim()).filter((line) => /^promptwise: (interrupted|models evaluated so far)/.test(line));
  const detail = said.map((line) => line.replace(/^promptwise: /, "")).join("; ");
  return detail ? `Compare Models cancelled: ${detail}` : "Compare Models cancelled.";
}

// "Compare Models…": run `promptwise eval FLOW --models A,B --format json` with the server's
// interpreter, then show the models' runs in the results page as Compare Runs does. Kept free
// of the vscode API so the unit tests can check it.

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

/** Arguments for the Python interpreter: `-m promptwise eval FLOW --models A,B [--data D] --format json`. */
export function compareModelsArgs(flow: string, models: string[], data?: string): string[] {
  return ["-m", "promptwise", "eval", flow, "--models", models.join(","), ...(data ? ["--data", data] : []), "--format", "json"];
}

export interface ModelRow {
  model: string;
  run: string | null;
  primary: number | null;
  cost_per_row: number | null;
  error?: string | null;
}

export interface ModelComparison {
  primary_metric: string | null;
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
  return failed.length ? `${head} Not evaluated: ${failed.join(", ")} (see the log).` : head;
}

/** The one line to show when the command printed no table: its own message, not a traceback. */
export function compareModelsFailure(stderr: string, detail?: string): string {
  const lines = stderr.split("\n").map((line) => line.trim()).filter((line) => line.startsWith("promptwise: error:"));
  const last = lines.length ? lines[lines.length - 1] : "";
  return (last || detail || "promptwise eval --models failed").replace(/^promptwise: (error: )?/, "");
}

// Human-readable text for the status bar, notifications and errors. No vscode import.
import type { BatchRunResult, DocumentTotals, EvaluateResult, RunFlowResult } from "./protocol";

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function formatTokens(count: number): string {
  return integer.format(Math.round(count));
}

/** Dollars with enough digits to tell small per-call costs apart: $0.0023, $2.30, $1,240. */
export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return "n/a";
  if (usd === 0) return "$0";
  const magnitude = Math.abs(usd);
  if (magnitude >= 1000) return `$${integer.format(usd)}`;
  if (magnitude >= 1) return `$${usd.toFixed(2)}`;
  // Two significant digits below a dollar, never fewer than two decimals.
  const decimals = Math.max(2, 1 - Math.floor(Math.log10(magnitude)));
  return `$${usd.toFixed(decimals)}`;
}

export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "n/a";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/**
 * Total tokens from what the server reports: a number, or an object with `total` (or
 * `total_tokens`), or prompt + completion counts.
 */
export function totalTokens(tokens: unknown): number | undefined {
  if (typeof tokens === "number" && Number.isFinite(tokens)) return tokens;
  if (tokens && typeof tokens === "object") {
    const t = tokens as Record<string, unknown>;
    for (const key of ["total", "total_tokens", "totalTokens"]) {
      if (typeof t[key] === "number") return t[key] as number;
    }
    const parts = ["prompt", "completion", "prompt_tokens", "completion_tokens", "input", "output"]
      .map((key) => t[key])
      .filter((value): value is number => typeof value === "number");
    if (parts.length) return parts.reduce((a, b) => a + b, 0);
  }
  return undefined;
}

/** Status bar text: `$(symbol-numeric) 1,240 tokens · $0.0023/call`. */
export function statusBarText(totals: DocumentTotals): string {
  const parts = [`$(symbol-numeric) ${formatTokens(totals.inputTokens)} tokens`];
  if (typeof totals.costPerCall === "number") parts.push(`${formatCost(totals.costPerCall)}/call`);
  return parts.join(" · ");
}

export function statusBarTooltip(totals: DocumentTotals): string {
  const lines: string[] = [];
  if (totals.text) lines.push(totals.text);
  lines.push(`Input: ${formatTokens(totals.inputTokens)} tokens`);
  if (typeof totals.maxOutputTokens === "number") lines.push(`Output: at most ${formatTokens(totals.maxOutputTokens)} tokens`);
  if (typeof totals.costPerCall === "number") lines.push(`Cost per call: ${formatCost(totals.costPerCall)}`);
  if (typeof totals.costPer1k === "number") lines.push(`Cost per 1k calls: ${formatCost(totals.costPer1k)}`);
  if (totals.model) {
    const entry = totals.catalogEntry && totals.catalogEntry !== totals.model ? ` (catalog entry ${totals.catalogEntry})` : "";
    lines.push(`Model: ${totals.model}${entry}`);
  }
  if (totals.catalogDate) lines.push(`Prices as of ${totals.catalogDate}`);
  return lines.join("\n");
}

export function runSummary(result: RunFlowResult): string {
  const status = result.status === "error" ? "failed" : result.status ?? "finished";
  const parts = [`Run${result.run ? ` ${result.run}` : ""} ${status}`];
  const tokens = totalTokens(result.tokens);
  if (tokens !== undefined) parts.push(`${formatTokens(tokens)} tokens`);
  if (typeof result.cost === "number") parts.push(formatCost(result.cost));
  if (typeof result.latency_ms === "number") parts.push(formatLatency(result.latency_ms));
  let text = parts.join(" · ");
  if (result.error) text += `: ${errorDetail(result.error)}`;
  return text;
}

export function batchSummary(result: BatchRunResult): string {
  const rows = Array.isArray(result.rows) ? result.rows.length : typeof result.rows === "number" ? result.rows : undefined;
  const parts = [`Batch ${result.run ?? "(unnamed)"} ${result.status ?? "finished"}`];
  const completed = (result as { completed?: unknown }).completed;
  if (rows !== undefined && typeof completed === "number") parts.push(`${formatTokens(completed)}/${formatTokens(rows)} rows done`);
  else if (rows !== undefined) parts.push(`${formatTokens(rows)} rows`);
  if (typeof result.failed === "number") parts.push(`${formatTokens(result.failed)} failed`);
  const tokens = totalTokens(result.tokens);
  if (tokens !== undefined) parts.push(`${formatTokens(tokens)} tokens`);
  if (typeof result.cost === "number") parts.push(formatCost(result.cost));
  return parts.join(" · ");
}

export function evaluateSummary(result: EvaluateResult): string {
  // Flat metrics are numbers; `promptwise eval` reports objects with a pass rate per evaluator.
  const metrics = Object.entries(result.metrics ?? {}).flatMap(([name, value]) => {
    if (typeof value === "number") return [`${name} ${formatMetric(value)}`];
    const passRate = (value as { pass_rate?: unknown } | null)?.pass_rate;
    return typeof passRate === "number" ? [`${name} ${(passRate * 100).toFixed(passRate === 1 ? 0 : 1)}% pass`] : [];
  });
  const head = `Evaluation ${result.run ?? ""}`.trim();
  return metrics.length ? `${head}: ${metrics.join(" · ")}` : `${head} finished`;
}

export function formatMetric(value: number): string {
  if (Number.isInteger(value)) return formatTokens(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toFixed(3);
}

/** The `error` field of a result: a string, or an object with a message (and maybe a code). */
export function errorDetail(error: unknown): string {
  if (typeof error === "string") return error;
  if (error && typeof error === "object") {
    const e = error as Record<string, unknown>;
    const message = typeof e.message === "string" ? e.message : JSON.stringify(error);
    return typeof e.code === "string" ? `${e.code} ${message}` : message;
  }
  return String(error);
}

/**
 * A failed request as one sentence for a notification. LSP errors carry `code` and `message`;
 * the server's messages already say what to do, so they are shown as they are.
 */
export function requestErrorMessage(action: string, error: unknown): string {
  if (error && typeof error === "object") {
    const e = error as { code?: unknown; message?: unknown };
    if (e.code === -32601) {
      return `${action} failed: the Promptwise server does not support this command yet (method not found). Update the promptwise package.`;
    }
    if (e.code === -32800) return `${action} was cancelled.`;
    if (typeof e.message === "string" && e.message) return `${action} failed: ${e.message}`;
  }
  if (typeof error === "string" && error) return `${action} failed: ${error}`;
  return `${action} failed; see the Promptwise output channel for details.`;
}

/**
 * One line for `promptwise estimate --format json`: `total.inputTokens`, `total.outputTokens`
 * (`expected`/`upperBound`) and `total.cost` (same), over `rows` rows.
 */
export function estimateSummary(estimate: Record<string, unknown>): string | undefined {
  const total = estimate.total as Record<string, unknown> | undefined;
  if (!total || typeof total !== "object") return undefined;
  const bounds = (value: unknown): { expected?: number; upperBound?: number } =>
    typeof value === "number" ? { expected: value } : value && typeof value === "object" ? (value as { expected?: number; upperBound?: number }) : {};
  const parts: string[] = [];
  if (typeof total.inputTokens === "number") parts.push(`${formatTokens(total.inputTokens)} tokens in`);
  const output = bounds(total.outputTokens);
  if (typeof output.upperBound === "number") parts.push(`≤ ${formatTokens(output.upperBound)} out`);
  const cost = bounds(total.cost);
  if (typeof cost.expected === "number") parts.push(`≈ ${formatCost(cost.expected)}`);
  if (typeof cost.upperBound === "number") parts.push(`≤ ${formatCost(cost.upperBound)}`);
  if (!parts.length) return undefined;
  const rows = typeof estimate.rows === "number" && estimate.rows > 1 ? ` over ${formatTokens(estimate.rows)} rows` : "";
  return `Estimate${rows}: ${parts.join(" · ")}`;
}

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
  const parts = [`Run ${result.run ?? "(unnamed)"} ${result.status ?? "finished"}`];
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
  if (rows !== undefined) parts.push(`${formatTokens(rows)} rows`);
  if (typeof result.failed === "number") parts.push(`${formatTokens(result.failed)} failed`);
  const tokens = totalTokens(result.tokens);
  if (tokens !== undefined) parts.push(`${formatTokens(tokens)} tokens`);
  if (typeof result.cost === "number") parts.push(formatCost(result.cost));
  return parts.join(" · ");
}

export function evaluateSummary(result: EvaluateResult): string {
  const metrics = Object.entries(result.metrics ?? {})
    .filter(([, value]) => typeof value === "number")
    .map(([name, value]) => `${name} ${formatMetric(value as number)}`);
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

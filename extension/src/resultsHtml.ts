// HTML for the results panel (a run, a batch, an evaluation, an estimate, a comparison).
// No vscode import: the page is a pure function of the server's JSON, unit-tested outside
// VS Code. The page takes its colours from the theme's CSS variables and runs under a strict
// content security policy: no remote sources, one nonce'd script and one nonce'd style.
import { metricColumns, type ModelComparison, type ModelRow } from "./compareModels";
import { formatCost, formatLatency, formatMetric, formatTokens, totalTokens } from "./format";

/** `models`: the table and recommendation of Compare Models (`promptwise eval --models`). */
export type ResultKind = "run" | "batch" | "evaluation" | "estimate" | "comparison" | "models" | "details";

export interface ResultView {
  kind: ResultKind;
  title: string;
  data: unknown;
}

export interface PageSecurity {
  /** Random per render; only the script and style carrying it may run. */
  nonce: string;
  /** The webview's own origin (`webview.cspSource`). */
  cspSource: string;
}

const ROW_KEYS = ["rows", "results", "lines", "items", "runs", "nodes"];
const MAX_ROWS = 500;
/** Plumbing, not results: the work-done token the command ran under; row counts the rows section states. */
const HIDDEN_SUMMARY_KEYS = new Set(["token", "workDoneToken", "rows_shown", "rows_truncated"]);
/** Top-level objects shown by their own sections, not as generic tables. */
const SECTION_SKIP = new Set(["metrics", "outputs", "error", "tokens", ...ROW_KEYS]);

export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

export function contentSecurityPolicy(security: PageSecurity): string {
  return [
    "default-src 'none'",
    `img-src ${security.cspSource} data:`,
    `font-src ${security.cspSource}`,
    `style-src ${security.cspSource} 'nonce-${security.nonce}'`,
    `script-src 'nonce-${security.nonce}'`,
  ].join("; ");
}

export function renderResultsHtml(view: ResultView, security: PageSecurity): string {
  const data = view.data;
  const body: string[] = [`<h1>${escapeHtml(view.title)}</h1>`];
  if (data === null || data === undefined) {
    body.push(`<p class="empty">The server returned no result.</p>`);
  } else if (typeof data !== "object" || Array.isArray(data)) {
    body.push(section("Result", jsonBlock(data)));
  } else if (view.kind === "models" && isModelComparison(data)) {
    body.push(...modelComparisonSections(data));
  } else {
    const record = data as Record<string, unknown>;
    body.push(summarySection(record));
    const traced = tracedRun(view.kind, record);
    if (traced) body.push(`<p><button class="show-trace">Show trace</button></p>`);
    if (record.error) body.push(section("Error", `<pre class="error">${escapeHtml(textOf(record.error))}</pre>`));
    const evaluators = evaluatorMetrics(record.metrics);
    if (evaluators.length) {
      body.push(section("Metrics", evaluatorTable(evaluators) + passRateChart(evaluators) + confusionTables(record.metrics)));
    } else {
      const metrics = numericMetrics(record.metrics);
      if (metrics.length) body.push(section("Metrics", metricsTable(metrics) + barChart(metrics)));
    }
    for (const [key, value] of Object.entries(record)) {
      const flat = SECTION_SKIP.has(key) ? undefined : flattenScalars(value);
      if (flat) body.push(section(key === "summary" ? "Run summary" : capitalize(key), scalarTable(flat)));
    }
    if (record.outputs !== undefined) body.push(section("Outputs", jsonBlock(record.outputs)));
    const rows = findRows(record);
    if (rows && isEvaluationRows(rows.rows)) body.push(evaluationRowsSection(rows.rows, record));
    else if (rows) body.push(rowsSection(rows.key, rows.rows));
  }
  body.push(`<details class="raw"><summary>Raw JSON</summary>${jsonBlock(data)}</details>`);

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(security))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(view.title)}</title>
<style nonce="${escapeHtml(security.nonce)}">${STYLE}</style>
</head>
<body data-kind="${escapeHtml(view.kind)}"${traceRunsAttribute(view.kind, data)}>
${body.join("\n")}
<script nonce="${escapeHtml(security.nonce)}">${SCRIPT}</script>
</body>
</html>`;
}

/**
 * The runs whose traces the page's "Show trace" buttons open (the trace view, issue 10): the
 * run itself, and for an evaluation the evaluated run first (its rows ran the flow), then the
 * evaluation. Estimates and comparisons have none.
 */
export function tracedRun(kind: ResultKind, record: Record<string, unknown>): string[] | undefined {
  if (kind === "estimate" || kind === "comparison" || kind === "models") return undefined;
  const names = [record.run, record.name, record.evaluation].filter((name): name is string => typeof name === "string" && name !== "");
  return names.length ? [...new Set(names)] : undefined;
}

function traceRunsAttribute(kind: ResultKind, data: unknown): string {
  if (!data || typeof data !== "object" || Array.isArray(data)) return "";
  const runs = tracedRun(kind, data as Record<string, unknown>);
  return runs ? ` data-trace-runs="${escapeHtml(JSON.stringify(runs))}"` : "";
}

/** A row's 0-based index in its run (`line`, else `index`, else its place in the list). */
function rowIndex(row: Record<string, unknown>, fallback: number): number {
  if (typeof row.line === "number") return row.line;
  if (typeof row.index === "number") return row.index;
  return fallback;
}

function traceButton(row: Record<string, unknown>, fallback: number): string {
  return `<p><button class="show-trace" data-row="${escapeHtml(rowIndex(row, fallback))}">Show this row's trace</button></p>`;
}

/** One evaluator's aggregate, as `promptwise eval --format json` reports it. */
export interface EvaluatorMetric {
  name: string;
  type?: string;
  mean?: number;
  passRate?: number;
  p50?: number;
  p95?: number;
  passed?: number;
  failed?: number;
  threshold?: number;
}

/** Evaluation metrics (`{name: {type, mean, pass_rate, ...}}`); empty for other shapes. */
export function evaluatorMetrics(metrics: unknown): EvaluatorMetric[] {
  if (!metrics || typeof metrics !== "object" || Array.isArray(metrics)) return [];
  const found: EvaluatorMetric[] = [];
  for (const [name, value] of Object.entries(metrics as Record<string, unknown>)) {
    if (!value || typeof value !== "object" || Array.isArray(value)) continue;
    const m = value as Record<string, unknown>;
    if (typeof m.mean !== "number" && typeof m.pass_rate !== "number") continue;
    const num = (key: string) => (typeof m[key] === "number" ? (m[key] as number) : undefined);
    found.push({
      name,
      type: typeof m.type === "string" ? m.type : undefined,
      mean: num("mean"),
      passRate: num("pass_rate"),
      p50: num("p50"),
      p95: num("p95"),
      passed: num("passed"),
      failed: num("failed"),
      threshold: num("threshold"),
    });
  }
  return found;
}

function evaluatorTable(metrics: EvaluatorMetric[]): string {
  const head = "<tr><th>evaluator</th><th>type</th><th>mean</th><th>pass rate</th><th>p50</th><th>p95</th><th>passed</th><th>failed</th><th>threshold</th></tr>";
  const rows = metrics.map((m) => {
    // Latency evaluators score milliseconds and cost evaluators dollars: show them that way.
    const show = (value: number | undefined) => {
      if (value === undefined) return "";
      if (m.type === "latency") return escapeHtml(formatLatency(value));
      if (m.type === "cost") return escapeHtml(formatCost(value));
      return escapeHtml(formatMetric(value));
    };
    const count = (value: number | undefined) => (value === undefined ? "" : escapeHtml(formatMetric(value)));
    return (
      `<tr><th>${escapeHtml(m.name)}</th><td>${escapeHtml(m.type ?? "")}</td><td class="num">${show(m.mean)}</td>` +
      `<td class="num">${m.passRate === undefined ? "" : escapeHtml(formatPercent(m.passRate))}</td><td class="num">${show(m.p50)}</td>` +
      `<td class="num">${show(m.p95)}</td><td class="num">${count(m.passed)}</td><td class="num">${count(m.failed)}</td><td class="num">${show(m.threshold)}</td></tr>`
    );
  });
  return `<table class="metrics evaluators"><thead>${head}</thead><tbody>${rows.join("")}</tbody></table>`;
}

/** Pass rate per evaluator, on a fixed 0–100 % scale so runs compare at a glance. */
function passRateChart(metrics: EvaluatorMetric[]): string {
  const rates = metrics.filter((m) => m.passRate !== undefined).map((m): [string, number] => [m.name, m.passRate! * 100]);
  return rates.length ? `<h3>Pass rate (%)</h3>${barChart(rates, "chart pass-rate", 100)}` : "";
}

/** Confusion matrices of classification evaluators, as tables (rows: label, columns: predicted). */
function confusionTables(metrics: unknown): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(metrics as Record<string, unknown>)) {
    const confusion = (value as { confusion?: { labels?: unknown; matrix?: unknown } } | null)?.confusion;
    if (!confusion || !Array.isArray(confusion.labels) || !Array.isArray(confusion.matrix)) continue;
    const labels = confusion.labels.map(String);
    const head = `<tr><th>label \\ predicted</th>${labels.map((l) => `<th>${escapeHtml(l)}</th>`).join("")}</tr>`;
    const rows = (confusion.matrix as unknown[]).map((row, i) => {
      const cells = Array.isArray(row) ? row.map((n, j) => `<td class="num${i === j ? " diagonal" : ""}">${escapeHtml(n)}</td>`).join("") : "";
      return `<tr><th>${escapeHtml(labels[i] ?? "")}</th>${cells}</tr>`;
    });
    parts.push(`<h3>${escapeHtml(name)}: confusion matrix</h3><table class="confusion"><thead>${head}</thead><tbody>${rows.join("")}</tbody></table>`);
  }
  return parts.join("");
}

/**
 * An object of scalars, or of objects of scalars, flattened to `key` / `key.inner`
 * (`total.cost.expected`); undefined for anything deeper, empty or with lists.
 */
export function flattenScalars(value: unknown, prefix = "", depth = 0): Record<string, unknown> | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value) || depth > 1) return undefined;
  const flat: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    if (inner === null || ["string", "number", "boolean"].includes(typeof inner)) {
      flat[prefix + key] = inner;
      continue;
    }
    const nested = flattenScalars(inner, `${prefix}${key}.`, depth + 1);
    if (!nested) return undefined;
    Object.assign(flat, nested);
  }
  return Object.keys(flat).length ? flat : undefined;
}

function scalarTable(record: Record<string, unknown>): string {
  const rows = Object.entries(record).map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(summaryValue(key, value) ?? String(value))}</td></tr>`);
  return `<table class="summary">${rows.join("")}</table>`;
}

function formatPercent(rate: number): string {
  return `${(rate * 100).toFixed(rate === 1 || rate === 0 ? 0 : 1)}%`;
}

/** Metrics as (name, value) pairs; nested objects flatten to `name.key` (e.g. `latency.p95`). */
export function numericMetrics(metrics: unknown): Array<[string, number]> {
  const pairs: Array<[string, number]> = [];
  if (!metrics || typeof metrics !== "object" || Array.isArray(metrics)) return pairs;
  for (const [name, value] of Object.entries(metrics as Record<string, unknown>)) {
    if (typeof value === "number" && Number.isFinite(value)) {
      pairs.push([name, value]);
    } else if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
        if (typeof inner === "number" && Number.isFinite(inner)) pairs.push([`${name}.${key}`, inner]);
      }
    }
  }
  return pairs;
}

/** The first list of row objects in a result (`rows`, `results`, `lines`, ...). */
export function findRows(record: Record<string, unknown>): { key: string; rows: Array<Record<string, unknown>> } | undefined {
  for (const key of ROW_KEYS) {
    const value = record[key];
    if (Array.isArray(value) && value.length && value.every((row) => row && typeof row === "object" && !Array.isArray(row))) {
      return { key, rows: value as Array<Record<string, unknown>> };
    }
  }
  return undefined;
}

function summarySection(record: Record<string, unknown>): string {
  const cells: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (HIDDEN_SUMMARY_KEYS.has(key)) continue;
    const shown = summaryValue(key, value);
    if (shown !== undefined) cells.push(`<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(shown)}</td></tr>`);
  }
  return cells.length ? section("Summary", `<table class="summary">${cells.join("")}</table>`) : "";
}

function summaryValue(key: string, value: unknown): string | undefined {
  if (key === "tokens") {
    const total = totalTokens(value);
    return total === undefined ? undefined : formatTokens(total);
  }
  if (typeof value === "number") {
    // The run store keeps times as Unix seconds.
    if (/_at$/.test(key) && value > 1e9) return new Date(value * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    if (/cost/i.test(key)) return formatCost(value);
    if (/latency|_ms$/i.test(key)) return formatLatency(value);
    return formatMetric(value);
  }
  if (typeof value === "string" || typeof value === "boolean") return String(value);
  if (key === "rows" && Array.isArray(value)) return formatTokens(value.length);
  return undefined;
}

function metricsTable(metrics: Array<[string, number]>): string {
  const rows = metrics.map(([name, value]) => `<tr><th>${escapeHtml(name)}</th><td class="num">${escapeHtml(formatMetric(value))}</td></tr>`);
  return `<table class="metrics"><thead><tr><th>metric</th><th>value</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** A horizontal bar chart in inline SVG: bars scale to the largest magnitude. */
export function barChart(values: Array<[string, number]>, className = "chart", scaleMax?: number, format: (value: number) => string = formatMetric): string {
  if (!values.length) return "";
  const max = scaleMax ?? (Math.max(...values.map(([, v]) => Math.abs(v))) || 1);
  const rowHeight = 22;
  const labelWidth = 180;
  const barWidth = 320;
  const height = values.length * rowHeight + 4;
  const bars = values.map(([name, value], i) => {
    const y = i * rowHeight + 2;
    const width = Math.max(1, Math.round((Math.abs(value) / max) * barWidth));
    return (
      `<text class="label" x="0" y="${y + 15}">${escapeHtml(truncate(name, 26))}</text>` +
      `<rect class="bar${value < 0 ? " negative" : ""}" x="${labelWidth}" y="${y + 3}" width="${width}" height="${rowHeight - 8}"><title>${escapeHtml(`${name}: ${value}`)}</title></rect>` +
      `<text class="value" x="${labelWidth + width + 6}" y="${y + 15}">${escapeHtml(format(value))}</text>`
    );
  });
  return `<svg class="${escapeHtml(className)}" role="img" width="${labelWidth + barWidth + 80}" height="${height}" viewBox="0 0 ${labelWidth + barWidth + 80} ${height}">${bars.join("")}</svg>`;
}

// ---- Compare Models -------------------------------------------------------------------------

export function isModelComparison(data: unknown): data is ModelComparison {
  const record = data as Partial<ModelComparison> | null;
  return Boolean(record && Array.isArray(record.models) && record.recommendation && typeof record.recommendation === "object");
}

/** A model's figure: rates (pass rate, accuracy) as percentages, other figures as numbers. */
function modelFigure(name: string, value: number | null | undefined): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  return /\.(pass_rate|accuracy)$/.test(name) ? formatPercent(value) : formatMetric(value);
}

/** The estimate made before any call, over the whole dataset: `≈ $0.10 · ≤ $0.13`. */
function estimateText(estimate: ModelRow["estimate"]): string {
  const parts = [
    typeof estimate?.cost_expected === "number" ? `≈ ${formatCost(estimate.cost_expected)}` : "",
    typeof estimate?.cost_upper === "number" ? `≤ ${formatCost(estimate.cost_upper)}` : "",
  ].filter(Boolean);
  return parts.join(" · ") || "–";
}

function count(value: number | null | undefined): string {
  return typeof value === "number" ? formatTokens(value) : "–";
}

/**
 * The page of `promptwise eval --models`: the recommendation first (the answer the user came
 * for), then one row per model — quality figures, cost per row, latency p50/p95, failed rows,
 * evaluation errors, the estimate made before any call, its run — the recommended row marked,
 * models that could not be run with their reason; then the primary metric and cost per row as
 * charts. Buttons open a model's run or compare the runs row by row.
 */
export function modelComparisonSections(comparison: ModelComparison): string[] {
  const { recommendation } = comparison;
  const recommended = recommendation.model;
  const primary = comparison.primary_metric;
  const higher = comparison.higher_is_better !== false;
  const head = recommended
    ? `<p class="recommended-model">Recommended: <strong>${escapeHtml(recommended)}</strong></p>`
    : `<p class="recommended-model none">No recommendation</p>`;
  const scope = comparison.node ? `the llm node <code>${escapeHtml(comparison.node)}</code>` : "every llm node";
  const setup =
    `<p class="note">Primary metric: ${primary ? `<code>${escapeHtml(primary)}</code> (${higher ? "higher" : "lower"} is better)` : "none"}` +
    ` · margin ${escapeHtml(comparison.margin)} · the model replaced in ${scope}.</p>`;
  const sections = [`<section class="recommendation"><h2>Recommendation</h2>${head}<p class="reason">${escapeHtml(recommendation.reason)}</p>${setup}</section>`];

  // What decides first (primary metric, cost, latency, errors), then the other evaluators'
  // figures: the panel is often half the window wide, and the table scrolls sideways.
  const metrics = metricColumns(comparison);
  const others = metrics.filter((name) => name !== primary);
  const headers = [
    "model", ...(primary ? [`${primary} (primary)`] : []),
    "cost/row", "latency p50", "latency p95", "rows failed", "eval errors", ...others, "estimate (whole data)", "run",
  ];
  const rows = comparison.models.map((row) => modelRow(row, others, primary, recommended, headers.length));
  const runs = comparison.models.map((row) => row.run).filter((run): run is string => typeof run === "string" && run !== "");
  const compare = runs.length >= 2
    ? `<p><button class="compare-runs" data-runs="${escapeHtml(JSON.stringify(runs))}">Compare the runs row by row</button></p>`
    : "";
  sections.push(section(`Models (${comparison.models.length})`,
    `<div class="table-scroll"><table class="models"><thead><tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table></div>` + compare));

  const scored = comparison.models.filter((row) => typeof row.primary === "number");
  const charts: string[] = [];
  if (primary && scored.length) {
    const rate = /\.(pass_rate|accuracy)$/.test(primary);
    charts.push(`<h3>${escapeHtml(primary)}${rate ? " (%)" : ""}</h3>` +
      barChart(scored.map((row): [string, number] => [row.model, rate ? row.primary! * 100 : row.primary!]), "chart primary-metric", rate ? 100 : undefined,
        rate ? (value) => `${value.toFixed(1)}%` : formatMetric));
  }
  const priced = comparison.models.filter((row) => typeof row.cost_per_row === "number");
  if (priced.length) {
    charts.push(`<h3>Cost per row</h3>` + barChart(priced.map((row): [string, number] => [row.model, row.cost_per_row!]), "chart cost-per-row", undefined, formatCost));
  }
  if (charts.length) sections.push(section("Charts", charts.join("")));
  return sections;
}

function modelRow(row: ModelRow, others: string[], primary: string | null, recommended: string | null, columns: number): string {
  const isRecommended = row.model === recommended;
  const badge = isRecommended ? ` <span class="badge">recommended</span>` : "";
  const name = `<th class="model-name">${escapeHtml(row.model)}${badge}</th>`;
  if (!row.run) {
    const why = row.error ? `not evaluated: ${row.error}` : "not evaluated";
    return `<tr class="model failed" data-model="${escapeHtml(row.model)}">${name}<td class="error" colspan="${columns - 1}">${escapeHtml(why)}</td></tr>`;
  }
  const num = (text: string) => `<td class="num">${escapeHtml(text)}</td>`;
  const cells = [
    ...(primary ? [num(modelFigure(primary, row.metrics?.[primary] ?? row.primary))] : []),
    num(typeof row.cost_per_row === "number" ? formatCost(row.cost_per_row) : "–"),
    num(typeof row.latency_p50_ms === "number" ? formatLatency(row.latency_p50_ms) : "–"),
    num(typeof row.latency_p95_ms === "number" ? formatLatency(row.latency_p95_ms) : "–"),
    `<td class="num${typeof row.rows_failed === "number" && row.rows_failed > 0 ? " failures" : ""}">${escapeHtml(count(row.rows_failed))}</td>`,
    num(count(row.eval_errors)),
    ...others.map((metric) => num(modelFigure(metric, row.metrics?.[metric]))),
    num(estimateText(row.estimate)),
    `<td><button class="show-run" data-run="${escapeHtml(row.run)}">${escapeHtml(row.run)}</button></td>`,
  ];
  return `<tr class="model${isRecommended ? " recommended" : ""}" data-model="${escapeHtml(row.model)}">${name}${cells.join("")}</tr>`;
}

/** Evaluation rows carry `scores: {evaluator: {value, passed, reason, error}}`. */
export function isEvaluationRows(rows: Array<Record<string, unknown>>): boolean {
  return rows.some((row) => row.scores !== null && typeof row.scores === "object" && !Array.isArray(row.scores));
}

interface RowScore {
  value?: unknown;
  passed?: unknown;
  reason?: unknown;
  error?: unknown;
  details?: unknown;
}

function scoresOf(row: Record<string, unknown>): Record<string, RowScore> {
  const scores = row.scores;
  return scores && typeof scores === "object" && !Array.isArray(scores) ? (scores as Record<string, RowScore>) : {};
}

/**
 * A row fails when the server says so (`passed: false`), when the flow failed on it, or when
 * one of its scores is below threshold or could not be computed.
 */
export function evaluationRowFailed(row: Record<string, unknown>): boolean {
  if (row.passed === false || row.status === "failed" || row.error) return true;
  return Object.values(scoresOf(row)).some((score) => score?.passed === false || Boolean(score?.error));
}

/** Evaluator names in the evaluation's order (`evaluators`), then any others the rows have. */
function evaluatorNames(record: Record<string, unknown>, rows: Array<Record<string, unknown>>): string[] {
  const names: string[] = [];
  if (Array.isArray(record.evaluators)) {
    for (const evaluator of record.evaluators) {
      const name = (evaluator as { name?: unknown } | null)?.name;
      if (typeof name === "string" && !names.includes(name)) names.push(name);
    }
  }
  for (const row of rows) for (const name of Object.keys(scoresOf(row))) if (!names.includes(name)) names.push(name);
  return names;
}

function evaluatorTypes(record: Record<string, unknown>): Map<string, string> {
  const types = new Map<string, string>();
  const metrics = record.metrics && typeof record.metrics === "object" ? (record.metrics as Record<string, { type?: unknown }>) : {};
  for (const [name, metric] of Object.entries(metrics)) if (typeof metric?.type === "string") types.set(name, metric.type);
  if (Array.isArray(record.evaluators)) {
    for (const evaluator of record.evaluators as Array<{ name?: unknown; type?: unknown }>) {
      if (typeof evaluator?.name === "string" && typeof evaluator.type === "string") types.set(evaluator.name, evaluator.type);
    }
  }
  return types;
}

/** A score as text: latency in ms, cost in dollars, other scores as numbers. */
function scoreText(value: unknown, type: string | undefined): string {
  if (typeof value !== "number") return value === null || value === undefined ? "–" : truncate(String(value), 40);
  if (type === "latency") return formatLatency(value);
  if (type === "cost") return formatCost(value);
  return formatMetric(value);
}

function verdictOf(score: RowScore | undefined): { css: string; mark: string; word: string } {
  if (!score) return { css: "none", mark: "", word: "not scored" };
  if (score.error) return { css: "error", mark: "⚠", word: "error" };
  if (score.passed === true) return { css: "pass", mark: "✓", word: "pass" };
  if (score.passed === false) return { css: "fail", mark: "✗", word: "fail" };
  return { css: "none", mark: "", word: "no threshold" };
}

/** `question: What is… · language: en`: a one-line glimpse of an object for a table cell. */
function glimpse(value: unknown, length = 90): string {
  if (value === null || value === undefined) return "";
  if (typeof value !== "object") return truncate(String(value), length);
  if (Array.isArray(value)) return truncate(JSON.stringify(value), length);
  const parts = Object.entries(value as Record<string, unknown>).map(
    ([key, inner]) => `${key}: ${typeof inner === "string" ? inner : JSON.stringify(inner)}`,
  );
  return truncate(parts.join(" · "), length);
}

/** Key/value table of an object (values as text, objects as JSON), for the drill-down. */
function fieldTable(value: unknown): string {
  if (!value || typeof value !== "object" || Array.isArray(value)) return jsonBlock(value);
  const entries = Object.entries(value as Record<string, unknown>);
  if (!entries.length) return `<p class="empty">none</p>`;
  const rows = entries.map(([key, inner]) => {
    const shown = typeof inner === "string" ? `<pre class="text">${escapeHtml(inner)}</pre>` : jsonBlock(inner);
    return `<tr><th>${escapeHtml(key)}</th><td>${shown}</td></tr>`;
  });
  return `<table class="fields">${rows.join("")}</table>`;
}

function rowLabel(row: Record<string, unknown>, index: number): string {
  const line = typeof row.line === "number" ? row.line : index;
  return `row ${line}` + (typeof row.data_line === "number" ? ` (data line ${row.data_line})` : "");
}

/**
 * The evaluation's rows: one table row per data row (row number, inputs, outputs, each
 * evaluator's score and verdict with its reason), failed rows marked, and under each a
 * `<details>` drill-down with the full inputs, outputs and every score's reason. Clicking the
 * row opens its drill-down (the page's nonce'd script; `<details>` works without it too).
 */
function evaluationRowsSection(rows: Array<Record<string, unknown>>, record: Record<string, unknown>): string {
  const shown = rows.slice(0, MAX_ROWS);
  const names = evaluatorNames(record, shown);
  const types = evaluatorTypes(record);
  const total = typeof record.rows_total === "number" ? Math.max(record.rows_total, rows.length) : rows.length;
  const failedCount = shown.filter(evaluationRowFailed).length;
  const hasDataLine = shown.some((row) => typeof row.data_line === "number");
  const head =
    `<tr><th>row</th>${hasDataLine ? "<th>data line</th>" : ""}<th>inputs</th><th>outputs</th>` +
    names.map((name) => `<th>${escapeHtml(name)}</th>`).join("") +
    `<th>verdict</th></tr>`;
  const columnCount = 4 + (hasDataLine ? 1 : 0) + names.length;
  const body = shown.map((row, i) => {
    const failed = evaluationRowFailed(row);
    const scores = scoresOf(row);
    const line = typeof row.line === "number" ? row.line : i;
    const scoreCells = names
      .map((name) => {
        const score = scores[name];
        const verdict = verdictOf(score);
        const why = score ? textOf(score.error || score.reason || "") : "";
        const text = `${verdict.mark ? `${verdict.mark} ` : ""}${scoreText(score?.value, types.get(name))}`;
        return `<td class="score ${verdict.css}" title="${escapeHtml(`${name}: ${verdict.word}${why ? ` — ${why}` : ""}`)}">${escapeHtml(text)}${why ? `<div class="reason">${escapeHtml(truncate(why, 80))}</div>` : ""}</td>`;
      })
      .join("");
    const rowVerdict = failed ? "✗ failed" : row.passed === true || Object.values(scores).some((s) => s?.passed === true) ? "✓ passed" : "–";
    const cells =
      `<td class="num">${escapeHtml(line)}</td>` +
      (hasDataLine ? `<td class="num">${escapeHtml(row.data_line ?? "")}</td>` : "") +
      `<td>${escapeHtml(glimpse(row.inputs))}</td>` +
      `<td>${escapeHtml(row.status === "failed" ? `failed: ${glimpse(row.error)}` : glimpse(row.outputs))}</td>` +
      scoreCells +
      `<td class="verdict">${escapeHtml(rowVerdict)}</td>`;
    return (
      `<tr class="row eval-row${failed ? " failed" : ""}" data-row="${i}" tabindex="0" aria-label="${escapeHtml(rowLabel(row, i))}${failed ? ", failed" : ""}">${cells}</tr>` +
      `<tr class="drill"><td colspan="${columnCount}">${rowDrillDown(row, i, names, types, failed)}</td></tr>`
    );
  });
  const truncatedNote =
    total > shown.length
      ? `<p class="note truncated">Showing the first ${formatTokens(shown.length)} of ${formatTokens(total)} rows; all of them are in the run store (<code>promptwise runs export ${escapeHtml(record.run ?? "RUN")}</code>).</p>`
      : "";
  const controls =
    `<div class="controls"><input id="row-filter" type="search" placeholder="Filter rows" aria-label="Filter rows">` +
    `<label><input id="failed-only" type="checkbox"> only failed rows (${formatTokens(failedCount)})</label></div>`;
  const title = total > shown.length ? `Rows (${formatTokens(shown.length)} of ${formatTokens(total)})` : `Rows (${formatTokens(shown.length)})`;
  return section(
    title,
    truncatedNote + controls + `<table class="rows evaluation-rows"><thead>${head}</thead><tbody>${body.join("")}</tbody></table>`,
  );
}

function rowDrillDown(row: Record<string, unknown>, index: number, names: string[], types: Map<string, string>, failed: boolean): string {
  const scores = scoresOf(row);
  const failing = names.filter((name) => ["fail", "error"].includes(verdictOf(scores[name]).css));
  const summary = `${rowLabel(row, index)}: ${failed ? `failed${failing.length ? ` (${failing.join(", ")})` : row.status === "failed" ? " (the flow failed)" : ""}` : "details"}`;
  const parts: string[] = [];
  if (row.error) parts.push(`<h4>Run error</h4><pre class="error">${escapeHtml(textOf(row.error))}</pre>`);
  parts.push(`<h4>Inputs</h4>${fieldTable(row.inputs ?? {})}`);
  if (row.data && typeof row.data === "object" && Object.keys(row.data as object).length) {
    parts.push(`<h4>Data columns</h4>${fieldTable(row.data)}`);
  }
  parts.push(`<h4>Outputs</h4>${row.outputs === null || row.outputs === undefined ? `<p class="empty">no outputs</p>` : fieldTable(row.outputs)}`);
  const scoreRows = names.map((name) => {
    const score = scores[name];
    const verdict = verdictOf(score);
    const why = score?.error ? `error: ${textOf(score.error)}` : textOf(score?.reason ?? "");
    const details =
      score?.details && typeof score.details === "object" && Object.keys(score.details as object).length
        ? `<details class="score-details"><summary>details</summary>${jsonBlock(score.details)}</details>`
        : "";
    return (
      `<tr class="${verdict.css}"><th>${escapeHtml(name)}</th><td class="num">${escapeHtml(scoreText(score?.value, types.get(name)))}</td>` +
      `<td class="verdict ${verdict.css}">${escapeHtml(`${verdict.mark ? `${verdict.mark} ` : ""}${verdict.word}`)}</td><td>${escapeHtml(why)}${details}</td></tr>`
    );
  });
  parts.push(
    `<h4>Scores</h4><table class="scores"><thead><tr><th>evaluator</th><th>score</th><th>verdict</th><th>reason</th></tr></thead><tbody>${scoreRows.join("")}</tbody></table>`,
  );
  const figures = [
    typeof row.latency_ms === "number" ? `latency ${formatLatency(row.latency_ms)}` : "",
    typeof row.cost === "number" ? `cost ${formatCost(row.cost)}` : "",
  ].filter(Boolean);
  if (figures.length) parts.push(`<p class="figures">${escapeHtml(figures.join(" · "))}</p>`);
  parts.push(traceButton(row, index));
  return `<details class="row-details" data-row="${index}"><summary>${escapeHtml(summary)}</summary><div class="drill-body">${parts.join("")}</div></details>`;
}

function rowsSection(key: string, rows: Array<Record<string, unknown>>): string {
  const shown = rows.slice(0, MAX_ROWS);
  const statusCounts = new Map<string, number>();
  for (const row of rows) {
    const status = typeof row.status === "string" ? row.status : row.error ? "failed" : undefined;
    if (status) statusCounts.set(status, (statusCounts.get(status) ?? 0) + 1);
  }
  const columns = rowColumns(shown);
  const head = `<tr><th>#</th>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr>`;
  const body = shown.map((row, i) => {
    const cells = columns.map((c) => `<td>${escapeHtml(cellText(c, columnValue(row, c)))}</td>`).join("");
    const scores = Object.values((row.scores as Record<string, { passed?: unknown }> | undefined) ?? {});
    const failed = row.error || row.status === "failed" || scores.some((score) => score?.passed === false) ? " failed" : "";
    return (
      `<tr class="row${failed}" data-row="${i}"><td class="num">${i + 1}</td>${cells}</tr>` +
      `<tr class="drill"><td colspan="${columns.length + 1}"><details><summary>row ${i + 1} details</summary>${traceButton(row, i)}${jsonBlock(row)}</details></td></tr>`
    );
  });
  const chart = statusCounts.size ? barChart([...statusCounts.entries()], "chart status") : "";
  const more = rows.length > MAX_ROWS ? `<p class="empty">Showing the first ${MAX_ROWS} of ${rows.length} rows.</p>` : "";
  const filter = `<input id="row-filter" type="search" placeholder="Filter rows" aria-label="Filter rows">`;
  return section(`${capitalize(key)} (${rows.length})`, chart + filter + `<table class="rows"><thead>${head}</thead><tbody>${body.join("")}</tbody></table>` + more);
}

/** Columns for the rows table: scalar fields present in the rows, at most eight. */
function rowColumns(rows: Array<Record<string, unknown>>): string[] {
  const columns: string[] = [];
  // Evaluation rows carry `scores: {evaluator: {value, passed, ...}}`: one column per evaluator,
  // after the row's own fields.
  const scoreColumns: string[] = [];
  for (const row of rows) {
    if (row.scores && typeof row.scores === "object") {
      for (const name of Object.keys(row.scores as object)) if (!scoreColumns.includes(`scores.${name}`)) scoreColumns.push(`scores.${name}`);
    }
  }
  for (const row of rows) {
    for (const [key, value] of Object.entries(row)) {
      const scalar = value === null || ["string", "number", "boolean"].includes(typeof value) || key === "tokens";
      if (scalar && !columns.includes(key)) columns.push(key);
    }
  }
  return [...columns.slice(0, 6), ...scoreColumns].slice(0, 12);
}

function columnValue(row: Record<string, unknown>, column: string): unknown {
  if (!column.startsWith("scores.")) return row[column];
  const score = (row.scores as Record<string, unknown> | undefined)?.[column.slice("scores.".length)];
  return score && typeof score === "object" ? (score as { value?: unknown }).value : score;
}

function cellText(column: string, value: unknown): string {
  if (value === undefined || value === null) return "";
  return summaryValue(column, value) ?? truncate(String(value), 120);
}

function section(title: string, content: string): string {
  return `<section><h2>${escapeHtml(title)}</h2>${content}</section>`;
}

function jsonBlock(value: unknown): string {
  return `<pre class="json">${escapeHtml(JSON.stringify(value, null, 2) ?? String(value))}</pre>`;
}

function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && typeof (value as { message?: unknown }).message === "string") {
    return (value as { message: string }).message;
  }
  return JSON.stringify(value, null, 2);
}

function truncate(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const STYLE = `
body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); background: var(--vscode-editor-background); padding: 0 16px 24px; }
h1 { font-size: 1.4em; font-weight: 600; }
h2 { font-size: 1.1em; font-weight: 600; border-bottom: 1px solid var(--vscode-panel-border); padding-bottom: 4px; margin-top: 24px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { text-align: left; padding: 3px 10px 3px 0; vertical-align: top; }
thead th { border-bottom: 1px solid var(--vscode-panel-border); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.rows tr.row:hover { background: var(--vscode-list-hoverBackground); }
tr.failed td { color: var(--vscode-errorForeground); }
tr.drill td { padding: 0 0 4px 24px; }
pre { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); background: var(--vscode-textCodeBlock-background); padding: 8px; overflow: auto; white-space: pre-wrap; }
pre.error { color: var(--vscode-errorForeground); }
.empty { color: var(--vscode-descriptionForeground); }
svg.chart { display: block; margin: 8px 0; }
svg .bar { fill: var(--vscode-charts-blue); }
svg .bar.negative { fill: var(--vscode-charts-red); }
svg text { fill: var(--vscode-foreground); font-size: 12px; font-family: var(--vscode-font-family); }
input[type=search] { background: var(--vscode-input-background); color: var(--vscode-input-foreground); border: 1px solid var(--vscode-input-border, transparent); padding: 3px 6px; margin: 6px 0; width: 240px; }
details.raw { margin-top: 24px; }
table.evaluation-rows tr.eval-row { cursor: pointer; }
table.evaluation-rows tr.eval-row:focus { outline: 1px solid var(--vscode-focusBorder); }
td.score .reason { color: var(--vscode-descriptionForeground); font-size: 0.9em; }
td.score.fail, td.verdict.fail, td.score.error, td.verdict.error { color: var(--vscode-errorForeground); }
td.score.pass, td.verdict.pass { color: var(--vscode-testing-iconPassed, var(--vscode-charts-green)); }
tr.failed td.verdict { font-weight: 600; }
tr.failed td:first-child { border-left: 3px solid var(--vscode-errorForeground); }
.drill-body { padding: 4px 0 8px; }
.drill-body h4 { margin: 8px 0 2px; font-size: 0.95em; }
table.fields pre, table.scores pre { margin: 0; }
pre.text { white-space: pre-wrap; }
.controls { display: flex; gap: 16px; align-items: center; }
p.note { color: var(--vscode-descriptionForeground); }
h3 { font-size: 1em; font-weight: 600; margin: 16px 0 4px; }
table.confusion td.diagonal { font-weight: 600; }
section.recommendation p.recommended-model { font-size: 1.15em; margin: 8px 0 4px; }
section.recommendation p.reason { margin: 0 0 4px; }
table.models tr.recommended th, table.models tr.recommended td { background: var(--vscode-list-inactiveSelectionBackground); }
table.models td.error { color: var(--vscode-errorForeground); }
table.models td.failures { color: var(--vscode-errorForeground); }
div.table-scroll { overflow-x: auto; }
span.badge { font-size: 0.85em; padding: 0 6px; border-radius: 8px; background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); }
button.show-run, button.compare-runs { font-family: var(--vscode-font-family); color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); border: none; padding: 2px 8px; cursor: pointer; }
`;

// Filters the rows table (text, and "only failed rows"); each data row is followed by its
// drill-down row, filtered with it. Clicking a row (or Enter on it) opens its drill-down.
// Listeners are attached here: the CSP allows no inline handlers.
const SCRIPT = `
(function () {
  const filter = document.getElementById("row-filter");
  const failedOnly = document.getElementById("failed-only");
  function apply() {
    const needle = filter ? filter.value.toLowerCase() : "";
    const onlyFailed = failedOnly ? failedOnly.checked : false;
    document.querySelectorAll("table.rows tr.row").forEach(function (row) {
      const drill = row.nextElementSibling;
      const text = row.textContent.toLowerCase() + (drill ? drill.textContent.toLowerCase() : "");
      const hidden = (needle !== "" && text.indexOf(needle) === -1) || (onlyFailed && !row.classList.contains("failed"));
      row.hidden = hidden;
      if (drill) drill.hidden = hidden;
    });
  }
  if (filter) filter.addEventListener("input", apply);
  if (failedOnly) failedOnly.addEventListener("change", apply);
  function toggle(row) {
    const drill = row.nextElementSibling;
    const details = drill ? drill.querySelector("details") : null;
    if (details) details.open = !details.open;
  }
  // "Show trace" buttons ask the extension to open the trace view (the run's, or a row's).
  const vscode = typeof acquireVsCodeApi === "function" ? acquireVsCodeApi() : undefined;
  const runs = JSON.parse(document.body.getAttribute("data-trace-runs") || "null");
  document.querySelectorAll("button.show-trace").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.stopPropagation();
      const row = button.getAttribute("data-row");
      if (vscode && runs) vscode.postMessage({ type: "showTrace", run: runs, row: row === null ? undefined : Number(row) });
    });
  });
  // Compare Models: a model's run, or all of them row by row, in this page.
  document.querySelectorAll("button.show-run").forEach(function (button) {
    button.addEventListener("click", function () {
      if (vscode) vscode.postMessage({ type: "showRun", run: button.getAttribute("data-run") });
    });
  });
  document.querySelectorAll("button.compare-runs").forEach(function (button) {
    button.addEventListener("click", function () {
      if (vscode) vscode.postMessage({ type: "compareRuns", runs: JSON.parse(button.getAttribute("data-runs") || "[]") });
    });
  });
  document.querySelectorAll("table.evaluation-rows tr.eval-row").forEach(function (row) {
    row.addEventListener("click", function () { toggle(row); });
    row.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); toggle(row); }
    });
  });
})();
`;

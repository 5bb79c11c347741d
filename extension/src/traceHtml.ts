// HTML for the trace view: a trace's span tree as a waterfall (timings, tokens, cost per span)
// and, under each span, what it saw and said (a model call's rendered messages and reply).
// No vscode import: a pure function of `promptwise traces show --format json`, unit-tested
// outside VS Code, under the results panel's strict CSP (one nonce'd script and style). Bars
// are SVG rects positioned by attributes, because the CSP blocks inline style attributes.
import { formatCost, formatLatency, formatTokens } from "./format";
import { contentSecurityPolicy, escapeHtml, type PageSecurity } from "./resultsHtml";

export interface TraceSpan {
  span_id: string;
  name: string;
  kind?: string | null;
  status?: string | null;
  error_type?: string | null;
  error_message?: string | null;
  offset_ms: number;
  duration_ms: number;
  model?: string | null;
  input_tokens?: number | null;
  output_tokens?: number | null;
  cost_usd?: number | null;
  cache_hit?: boolean | null;
  attempts?: number | null;
  subtree?: { llm_calls: number; input_tokens: number; output_tokens: number; cost_usd: number | null };
  content?: Record<string, unknown>;
  attributes?: Record<string, unknown>;
  children: TraceSpan[];
}

export interface TraceDocument {
  trace_id: string;
  name?: string | null;
  status?: string | null;
  duration_ms?: number | null;
  start?: string | null;
  run_id?: string | null;
  row_index?: number | null;
  totals?: { spans: number; llm_calls: number; cache_hits: number; input_tokens: number; output_tokens: number; cost_usd: number | null };
  spans: TraceSpan[];
}

/** One row of the waterfall: a span at its depth, in depth-first (start) order. */
export interface WaterfallRow {
  span: TraceSpan;
  depth: number;
  /** Bar position and width in percent of the trace's duration. */
  left: number;
  width: number;
}

/** Narrowest bar drawn, in percent: a 0.1 ms span in a 10 s trace must still show. */
export const MIN_BAR_PERCENT = 0.5;
const MAX_SPANS = 2000;
const MAX_DEPTH_CLASS = 12;

/**
 * The waterfall's rows, depth-first (children in start order, as the server sends them), each
 * bar placed on a scale of 0..total ms (total: the trace's duration, or the furthest span end
 * when a child outlives its parent). Iterative, so a deep tree cannot overflow the stack.
 */
export function waterfallRows(roots: TraceSpan[], traceDurationMs?: number | null, limit = MAX_SPANS): WaterfallRow[] {
  const ordered: Array<{ span: TraceSpan; depth: number }> = [];
  const stack = [...roots].reverse().map((span) => ({ span, depth: 0 }));
  while (stack.length && ordered.length < limit) {
    const item = stack.pop()!;
    ordered.push(item);
    const children = item.span.children ?? [];
    for (let i = children.length - 1; i >= 0; i--) stack.push({ span: children[i], depth: item.depth + 1 });
  }
  let total = typeof traceDurationMs === "number" && traceDurationMs > 0 ? traceDurationMs : 0;
  for (const { span } of ordered) total = Math.max(total, (span.offset_ms ?? 0) + (span.duration_ms ?? 0));
  return ordered.map(({ span, depth }) => {
    if (total <= 0) return { span, depth, left: 0, width: 100 };
    const left = clamp(((span.offset_ms ?? 0) / total) * 100, 0, 100 - MIN_BAR_PERCENT);
    const width = clamp(((span.duration_ms ?? 0) / total) * 100, MIN_BAR_PERCENT, 100 - left);
    return { span, depth, left: round(left), width: round(width) };
  });
}

export function renderTraceHtml(trace: TraceDocument, security: PageSecurity, focusSpanId?: string): string {
  const title = `Trace · ${trace.name ?? trace.trace_id}`;
  const rows = waterfallRows(trace.spans ?? [], trace.duration_ms);
  const body = [`<h1>${escapeHtml(title)}</h1>`, `<p class="summary">${escapeHtml(traceSummary(trace))}</p>`];
  // A failed trace says why at the top, and opens the span where it failed (unless asked for another).
  const cause = failureCause(rows);
  if (cause) body.push(`<p class="error" role="alert">${escapeHtml(`${cause.name} failed: ${cause.error_type ?? "error"}${cause.error_message ? `: ${cause.error_message}` : ""}`)}</p>`);
  if (!rows.length) body.push(`<p class="empty">This trace has no spans.</p>`);
  else body.push(waterfallTable(rows, focusSpanId ?? cause?.span_id));
  body.push(`<details class="raw"><summary>Raw JSON</summary><pre>${escapeHtml(JSON.stringify(trace, null, 2))}</pre></details>`);
  return page(title, body.join("\n"), security, "trace");
}

/** The innermost failed span (the deepest; the first of those): where a failure began. */
export function failureCause(rows: WaterfallRow[]): TraceSpan | undefined {
  let found: WaterfallRow | undefined;
  for (const row of rows) if (row.span.status === "error" && (!found || row.depth > found.depth)) found = row;
  return found?.span;
}

/** "1.23 s · ok · 2 model calls · 812 tokens · $0.0004 · run r1 row 3" */
export function traceSummary(trace: TraceDocument): string {
  const totals = trace.totals;
  const parts = [formatLatency(trace.duration_ms ?? undefined), trace.status === "error" ? "error" : "ok"];
  if (totals) {
    parts.push(`${totals.llm_calls} model call${totals.llm_calls === 1 ? "" : "s"}`);
    parts.push(`${formatTokens(totals.input_tokens + totals.output_tokens)} tokens`);
    if (totals.cost_usd !== null && totals.cost_usd !== undefined) parts.push(formatCost(totals.cost_usd));
    if (totals.cache_hits) parts.push(`${totals.cache_hits} from cache`);
  }
  if (trace.run_id) parts.push(`run ${trace.run_id}${typeof trace.row_index === "number" ? ` row ${trace.row_index}` : ""}`);
  parts.push(`trace ${trace.trace_id}`);
  return parts.join(" · ");
}

function waterfallTable(rows: WaterfallRow[], focusSpanId?: string): string {
  const head = `<tr><th>span</th><th class="bar-head">timeline</th><th>duration</th><th>tokens</th><th>cost</th></tr>`;
  const body = rows.map(({ span, depth, left, width }) => {
    const focused = span.span_id === focusSpanId;
    const failed = span.status === "error";
    const kind = span.kind ?? "span";
    const tokens = spanTokens(span);
    const cost = spanCost(span);
    const bar =
      `<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="${escapeHtml(`starts at ${formatLatency(span.offset_ms)}, lasts ${formatLatency(span.duration_ms)}`)}">` +
      `<rect class="kind-${escapeHtml(kind)}${failed ? " failed" : ""}" x="${left}" y="1" width="${width}" height="8"></rect></svg>`;
    const row =
      `<tr class="span-row${failed ? " failed" : ""}${focused ? " focused" : ""}" data-span="${escapeHtml(span.span_id)}" tabindex="0">` +
      `<td class="name d${Math.min(depth, MAX_DEPTH_CLASS)}"><span class="kind">${escapeHtml(kind)}</span> ${escapeHtml(span.name)}</td>` +
      `<td class="timeline">${bar}</td><td class="num">${escapeHtml(formatLatency(span.duration_ms))}</td>` +
      `<td class="num">${escapeHtml(tokens)}</td><td class="num">${escapeHtml(cost)}</td></tr>`;
    const detail = `<tr class="detail"><td colspan="5"><details data-span="${escapeHtml(span.span_id)}"${focused ? " open" : ""}><summary>${escapeHtml(span.name)} details</summary>${spanDetails(span)}</details></td></tr>`;
    return row + detail;
  });
  return `<table class="waterfall"><thead>${head}</thead><tbody>${body.join("")}</tbody></table>`;
}

/** Tokens of a model call ("120→30"), or of the model calls below another span ("150"). */
export function spanTokens(span: TraceSpan): string {
  if (span.kind === "llm") return `${formatTokens(span.input_tokens ?? 0)}→${formatTokens(span.output_tokens ?? 0)}`;
  const sub = span.subtree;
  if (!sub || !sub.llm_calls) return "";
  return formatTokens(sub.input_tokens + sub.output_tokens);
}

export function spanCost(span: TraceSpan): string {
  const value = span.kind === "llm" ? span.cost_usd : span.subtree?.llm_calls ? span.subtree.cost_usd : undefined;
  return value === null || value === undefined ? "" : formatCost(value);
}

function spanDetails(span: TraceSpan): string {
  const parts: string[] = [];
  const figures = [
    span.model ? `model ${span.model}` : "",
    span.cache_hit ? "answered from the response cache" : "",
    (span.attempts ?? 0) > 1 ? `${span.attempts} attempts` : "",
    `starts +${formatLatency(span.offset_ms)}`,
  ].filter(Boolean);
  parts.push(`<p class="figures">${escapeHtml(figures.join(" · "))}</p>`);
  if (span.status === "error") {
    parts.push(`<pre class="error">${escapeHtml(`${span.error_type ?? "error"}: ${span.error_message ?? ""}`)}</pre>`);
  }
  const content = span.content ?? {};
  // Messages come as a list; a string is clipped text, or the placeholder of an encrypted value
  // whose key is not set (tracing.encrypt), which says what to set: shown as it is.
  if (Array.isArray(content.input_messages)) parts.push(`<h4>Messages sent</h4>${messagesHtml(content.input_messages)}`);
  else if (typeof content.input_messages === "string") parts.push(`<h4>Messages sent</h4>${jsonPre(content.input_messages)}`);
  if (Array.isArray(content.output_messages)) parts.push(`<h4>Reply</h4>${messagesHtml(content.output_messages)}`);
  else if (typeof content.output_messages === "string") parts.push(`<h4>Reply</h4>${jsonPre(content.output_messages)}`);
  if (content.inputs !== undefined) parts.push(`<h4>Inputs</h4>${jsonPre(content.inputs)}`);
  if (content.output !== undefined) parts.push(`<h4>Output</h4>${jsonPre(content.output)}`);
  if (content.explanation !== undefined) parts.push(`<h4>Explanation</h4>${jsonPre(content.explanation)}`);
  // A served request's feedback (POST /feedback): the body the client sent, as pf records it.
  if (span.kind === "feedback" && span.attributes?.feedback !== undefined) parts.push(`<h4>Feedback</h4>${jsonPre(parsedJson(span.attributes.feedback))}`);
  if (span.kind === "llm" && Array.isArray(content.input_messages)) {
    parts.push(`<p><button class="replay" data-span="${escapeHtml(span.span_id)}">Replay with the current prompt…</button></p>`);
  }
  if (span.attributes && Object.keys(span.attributes).length) {
    parts.push(`<details class="attributes"><summary>attributes</summary>${jsonPre(span.attributes)}</details>`);
  }
  return `<div class="span-body">${parts.join("")}</div>`;
}

/** GenAI-convention messages ({role, parts: [{type, content}]}) as role-labelled text blocks. */
export function messagesHtml(messages: unknown[]): string {
  return messages
    .map((message) => {
      if (!message || typeof message !== "object") return `<pre class="message">${escapeHtml(String(message))}</pre>`;
      const m = message as { role?: unknown; parts?: unknown; content?: unknown };
      const text = Array.isArray(m.parts) ? m.parts.map(partText).join("\n") : typeof m.content === "string" ? m.content : JSON.stringify(m);
      return `<div class="message role-${escapeHtml(String(m.role ?? "unknown"))}"><div class="role">${escapeHtml(String(m.role ?? "?"))}</div><pre>${escapeHtml(text)}</pre></div>`;
    })
    .join("");
}

function partText(part: unknown): string {
  if (!part || typeof part !== "object") return String(part);
  const p = part as Record<string, unknown>;
  if (p.type === "text") return String(p.content ?? "");
  if (p.type === "tool_call") return `[tool call ${String(p.name)}(${typeof p.arguments === "string" ? p.arguments : JSON.stringify(p.arguments ?? "")})]`;
  if (p.type === "tool_call_response") return `[tool result ${JSON.stringify(p.response)}]`;
  return `[${String(p.type)}]`;
}

/** A JSON text as its value (shown indented); anything else as it is. */
function parsedJson(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function jsonPre(value: unknown): string {
  return `<pre>${escapeHtml(typeof value === "string" ? value : JSON.stringify(value, null, 2))}</pre>`;
}

export function page(title: string, body: string, security: PageSecurity, kind: string, script = SCRIPT): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(security))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style nonce="${escapeHtml(security.nonce)}">${STYLE}</style>
</head>
<body data-kind="${escapeHtml(kind)}">
${body}
<script nonce="${escapeHtml(security.nonce)}">${script}</script>
</body>
</html>`;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), Math.max(low, high));
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

const depthRules = Array.from({ length: MAX_DEPTH_CLASS + 1 }, (_, d) => `td.name.d${d} { padding-left: ${4 + d * 16}px; }`).join("\n");

export const STYLE = `
body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 16px 24px; }
h1 { font-size: 1.3em; } h4 { margin: 8px 0 2px; }
.summary, .figures { color: var(--vscode-descriptionForeground); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 2px 6px; border-bottom: 1px solid var(--vscode-editorWidget-border, #8884); vertical-align: top; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
th.bar-head, td.timeline { width: 45%; }
svg.bar { width: 100%; height: 12px; display: block; }
rect { fill: var(--vscode-charts-blue, #3794ff); }
rect.kind-llm { fill: var(--vscode-charts-purple, #b180d7); }
rect.kind-node { fill: var(--vscode-charts-green, #89d185); }
rect.kind-request { fill: var(--vscode-charts-orange, #d18616); }
rect.failed { fill: var(--vscode-charts-red, #f14c4c); }
tr.span-row { cursor: pointer; }
tr.span-row:hover, tr.span-row.focused { background: var(--vscode-list-hoverBackground); }
tr.failed td.name { color: var(--vscode-errorForeground); }
tr.detail > td { border-bottom: none; padding: 0 6px 0 24px; }
tr.detail details > summary { display: none; }
.kind { font-size: 0.8em; opacity: 0.75; text-transform: uppercase; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--vscode-textCodeBlock-background); padding: 6px; margin: 2px 0; }
pre.error, p.error { color: var(--vscode-errorForeground); }
button.secondary { color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
#chat .message { margin: 6px 0; }
.message .role { font-weight: bold; font-size: 0.85em; }
.side-by-side { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.changed { color: var(--vscode-charts-orange, #d18616); }
button { color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: none; padding: 4px 10px; cursor: pointer; }
textarea { width: 100%; min-height: 6em; font-family: var(--vscode-editor-font-family); color: var(--vscode-input-foreground); background: var(--vscode-input-background); border: 1px solid var(--vscode-input-border, #8884); }
details.raw { margin-top: 24px; }
${depthRules}
`;

// Clicking a span's row (or Enter on it) opens its details; the Replay button asks the extension.
const SCRIPT = `
(function () {
  const vscode = typeof acquireVsCodeApi === "function" ? acquireVsCodeApi() : undefined;
  function toggle(row) {
    const detail = row.nextElementSibling;
    const details = detail ? detail.querySelector("details") : null;
    if (details) details.open = !details.open;
  }
  document.querySelectorAll("tr.span-row").forEach(function (row) {
    row.addEventListener("click", function () { toggle(row); });
    row.addEventListener("keydown", function (event) { if (event.key === "Enter") toggle(row); });
  });
  document.querySelectorAll("button.replay").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.stopPropagation();
      if (vscode) vscode.postMessage({ type: "replay", spanId: button.getAttribute("data-span") });
    });
  });
  const focused = document.querySelector("tr.span-row.focused");
  if (focused) focused.scrollIntoView({ block: "center" });
})();
`;

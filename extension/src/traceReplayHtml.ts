// HTML for a replayed model call: the call as recorded and the call with the current prompt
// (or another model), side by side. Pure function of the server's `promptwise.replayCall` answer.
import { formatCost, formatLatency, formatTokens } from "./format";
import { escapeHtml, type PageSecurity } from "./resultsHtml";
import { messagesHtml, page } from "./traceHtml";

export interface ReplaySide {
  model?: string | null;
  messages?: unknown[];
  reply?: string | null;
  input_tokens?: number | null;
  output_tokens?: number | null;
  cost_usd?: number | null;
  duration_ms?: number | null;
  error?: string | null;
}

export interface ReplayResult {
  status?: string;
  error?: string;
  span_id?: string;
  template?: string | null;
  trace_id?: string | null;
  original?: ReplaySide;
  replay?: ReplaySide;
}

export function renderReplayHtml(result: ReplayResult, security: PageSecurity): string {
  const original = result.original ?? {};
  const replay = result.replay ?? {};
  const title = `Replay · ${original.model ?? "?"} → ${replay.model ?? "?"}`;
  const changed = JSON.stringify(original.messages ?? []) !== JSON.stringify(replay.messages ?? []);
  const body = [
    `<h1>${escapeHtml(title)}</h1>`,
    `<p class="summary">${escapeHtml(
      [
        result.template ? `prompt ${result.template}` : "",
        changed ? "the prompt changed" : "the same prompt",
        (original.reply ?? "") === (replay.reply ?? "") ? "same reply" : "the reply changed",
        result.trace_id ? `replay traced as ${result.trace_id}` : "",
      ]
        .filter(Boolean)
        .join(" · "),
    )}</p>`,
    `<div class="side-by-side">${side("Recorded", original)}${side("Replayed", replay)}</div>`,
  ];
  return page(title, body.join("\n"), security, "replay", "");
}

function side(heading: string, call: ReplaySide): string {
  const figures = [
    call.model ? `model ${call.model}` : "",
    typeof call.duration_ms === "number" ? formatLatency(call.duration_ms) : "",
    `${formatTokens(call.input_tokens ?? 0)}→${formatTokens(call.output_tokens ?? 0)} tokens`,
    call.cost_usd === null || call.cost_usd === undefined ? "" : formatCost(call.cost_usd),
  ].filter(Boolean);
  return (
    `<section class="call"><h2>${escapeHtml(heading)}</h2><p class="figures">${escapeHtml(figures.join(" · "))}</p>` +
    (call.error ? `<pre class="error">${escapeHtml(call.error)}</pre>` : "") +
    `<h4>Messages sent</h4>${messagesHtml(call.messages ?? [])}` +
    `<h4>Reply</h4><pre class="reply">${escapeHtml(call.reply ?? "")}</pre></section>`
  );
}

// The request panel of "Serve Flow Locally": a JSON inputs box, Send, the answer as it streams
// (Server-Sent Events from /score), and a link to the request's trace. No vscode import: the
// page and the SSE parsing are pure functions, unit-tested outside VS Code. The page never
// talks to the network itself (its CSP has no connect-src): the extension sends the request and
// posts the events to it.
import { escapeHtml, type PageSecurity } from "./resultsHtml";
import { page } from "./traceHtml";

export interface ServeView {
  url: string;
  flowName: string;
  inputs: string;
}

export function renderServeHtml(view: ServeView, security: PageSecurity): string {
  const title = `Serving ${view.flowName}`;
  const body = [
    `<h1>${escapeHtml(title)}</h1>`,
    `<p class="summary">POST <code>${escapeHtml(`${view.url}/score`)}</code> · OpenAPI at <code>${escapeHtml(`${view.url}/openapi.json`)}</code></p>`,
    `<label for="inputs">Inputs (JSON)</label>`,
    `<textarea id="inputs" spellcheck="false">${escapeHtml(view.inputs)}</textarea>`,
    `<p><button id="send">Send</button> <span id="state" class="figures" role="status"></span></p>`,
    `<h4>Answer</h4><pre id="answer" aria-live="polite"></pre>`,
    `<p><button id="trace" hidden>Open the trace</button></p>`,
  ];
  return page(title, body.join("\n"), security, "serve", SCRIPT);
}

/**
 * Splits Server-Sent Events out of the text received so far: the `data:` payload of each
 * complete event (lines joined by "\n"), and the incomplete rest to keep for the next chunk.
 */
export function parseSseEvents(buffer: string): { events: string[]; rest: string } {
  const normalized = buffer.replace(/\r\n?/g, "\n");
  const blocks = normalized.split("\n\n");
  const rest = blocks.pop() ?? "";
  const events: string[] = [];
  for (const block of blocks) {
    const data = block
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""));
    if (data.length) events.push(data.join("\n"));
  }
  return { events, rest };
}

/**
 * What the answer box shows after one more event: a string field's pieces are appended (a
 * streamed reply), other outputs are shown as JSON lines, an error as "error: ...".
 */
export function applyEvent(shown: string, event: string): string {
  let value: unknown;
  try {
    value = JSON.parse(event);
  } catch {
    return shown + event;
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return shown + JSON.stringify(value);
  const record = value as Record<string, unknown>;
  if (record.error && typeof record.error === "object") {
    const error = record.error as Record<string, unknown>;
    return `${shown}${shown ? "\n" : ""}error: ${String(error.message ?? JSON.stringify(error))}`;
  }
  const entries = Object.entries(record);
  if (entries.length === 1 && typeof entries[0][1] === "string") return shown + entries[0][1];
  return `${shown}${shown ? "\n" : ""}${JSON.stringify(record, null, 2)}`;
}

/**
 * Inputs to start the request panel with, from the served flow's OpenAPI document: each input
 * of POST /score with its default, or an empty value of its type. "{}" when the document has none.
 */
export function exampleInputs(openapi: unknown): string {
  const schema = (openapi as { paths?: Record<string, any> } | undefined)?.paths?.["/score"]?.post?.requestBody?.content?.["application/json"]?.schema;
  const properties = schema && typeof schema === "object" ? (schema as { properties?: Record<string, { type?: string; default?: unknown }> }).properties : undefined;
  if (!properties || typeof properties !== "object") return "{}";
  const empty: Record<string, unknown> = { string: "", number: 0, integer: 0, boolean: false, array: [], object: {} };
  const example: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(properties)) {
    example[name] = property && "default" in property ? property.default : empty[property?.type ?? "string"] ?? "";
  }
  return JSON.stringify(example, null, 2);
}

const SCRIPT = `
(function () {
  const vscode = acquireVsCodeApi();
  const inputs = document.getElementById("inputs");
  const send = document.getElementById("send");
  const state = document.getElementById("state");
  const answer = document.getElementById("answer");
  const trace = document.getElementById("trace");
  let requestId;
  send.addEventListener("click", function () {
    try { JSON.parse(inputs.value); } catch (error) { state.textContent = "The inputs are not JSON: " + error.message; return; }
    answer.textContent = ""; trace.hidden = true; send.disabled = true; state.textContent = "sending…";
    vscode.postMessage({ type: "send", body: inputs.value });
  });
  trace.addEventListener("click", function () { vscode.postMessage({ type: "trace", requestId: requestId }); });
  window.addEventListener("message", function (event) {
    const m = event.data || {};
    if (m.type === "answer") { answer.textContent = m.text; state.textContent = "streaming…"; }
    else if (m.type === "done") {
      answer.textContent = m.text; send.disabled = false; requestId = m.requestId;
      state.textContent = m.status + (m.ms !== undefined ? " · " + m.ms + " ms" : "");
      trace.hidden = !m.requestId;
    }
  });
})();
`;

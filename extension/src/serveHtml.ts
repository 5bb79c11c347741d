// The request panel of "Serve Flow Locally": a JSON inputs box, Send, the answer as it streams
// (Server-Sent Events from /score), and a link to the request's trace. A chat flow gets a chat
// instead: the conversation so far, a message box and "New conversation"; the panel keeps the
// turns and sends them as the flow's chat history. No vscode import: the page and what it is
// built from (the served flow's OpenAPI document) are pure functions, unit-tested outside VS
// Code. The page never talks to the network itself (its CSP has no connect-src): the extension
// sends the request and posts the answer to it.
import { escapeHtml, type PageSecurity } from "./resultsHtml";
import { page } from "./traceHtml";

/** Which input takes a chat flow's message and which are the others (`x-promptwise-chat`). */
export interface ChatShape {
  input: string;
  history: string | null;
  output: string;
}

export interface ServeView {
  url: string;
  flowName: string;
  /** The inputs box's text: every input (or, for a chat flow, the inputs other than the message and history). */
  inputs: string;
  chat?: ChatShape;
  /** A chat flow's sample message (a prompty's `sample:`), shown in the empty message box. */
  sample?: string;
  /** The server wants an API key (serve.keys); the panel says how it is asked for. */
  needsKey?: boolean;
}

export function renderServeHtml(view: ServeView, security: PageSecurity): string {
  const title = `Serving ${view.flowName}`;
  const route = view.chat ? "/v1/chat/completions" : "/score";
  const body = [
    `<h1>${escapeHtml(title)}</h1>`,
    `<p class="summary">POST <code>${escapeHtml(`${view.url}${route}`)}</code> · OpenAPI at <code>${escapeHtml(`${view.url}/openapi.json`)}</code>` +
      (view.needsKey ? " · API key required (serve.keys): asked for once, kept until serving stops" : "") +
      `</p>`,
    `<p id="stopped" class="error" role="alert" hidden></p>`,
  ];
  if (view.chat) {
    body.push(
      `<div id="chat" data-input="${escapeHtml(view.chat.input)}" aria-live="polite"></div>`,
      `<label for="message">Message (the flow's <code>${escapeHtml(view.chat.input)}</code>)</label>`,
      `<textarea id="message" spellcheck="true"${view.sample ? ` placeholder="${escapeHtml(view.sample)}"` : ""}></textarea>`,
      `<p><button id="send">Send</button> <button id="cancel" class="secondary" hidden>Cancel</button> <button id="reset" class="secondary">New conversation</button> <span id="state" class="figures" role="status"></span></p>`,
      `<details id="others"${view.inputs.trim() === "{}" ? "" : " open"}><summary>Other inputs (JSON)</summary><textarea id="inputs" spellcheck="false">${escapeHtml(view.inputs)}</textarea></details>`,
    );
  } else {
    body.push(
      `<label for="inputs">Inputs (JSON)</label>`,
      `<textarea id="inputs" spellcheck="false">${escapeHtml(view.inputs)}</textarea>`,
      `<p><button id="send">Send</button> <button id="cancel" class="secondary" hidden>Cancel</button> <span id="state" class="figures" role="status"></span></p>`,
      `<h4>Answer</h4><pre id="answer" aria-live="polite"></pre>`,
      `<p><button id="trace" hidden>Open the trace</button></p>`,
    );
  }
  return page(title, body.join("\n"), security, view.chat ? "serve-chat" : "serve", view.chat ? CHAT_SCRIPT : SCRIPT);
}

function requestBody(openapi: unknown): Record<string, any> | undefined {
  const content = (openapi as { paths?: Record<string, any> } | undefined)?.paths?.["/score"]?.post?.requestBody?.content?.["application/json"];
  return content && typeof content === "object" ? content : undefined;
}

/**
 * The inputs the panel starts with, from the served flow's OpenAPI document: its example (a
 * prompty's `sample:`, a flow's defaults) for the inputs it names, else each input's default or
 * an empty value of its type. `leaveOut`: inputs the panel fills itself (a chat's message and history).
 */
export function exampleInputs(openapi: unknown, leaveOut: string[] = []): string {
  const content = requestBody(openapi);
  const properties = content?.schema?.properties as Record<string, { type?: string; default?: unknown }> | undefined;
  if (!properties || typeof properties !== "object") return "{}";
  const sample = content?.example && typeof content.example === "object" && !Array.isArray(content.example) ? (content.example as Record<string, unknown>) : {};
  const empty: Record<string, unknown> = { string: "", number: 0, integer: 0, boolean: false, array: [], object: {} };
  const example: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(properties)) {
    if (leaveOut.includes(name)) continue;
    if (name in sample) example[name] = sample[name];
    else example[name] = property && "default" in property ? property.default : empty[property?.type ?? "string"] ?? "";
  }
  return JSON.stringify(example, null, 2);
}

/** The example's value of one input when it is text (a chat flow's sample message). */
export function sampleText(openapi: unknown, input: string): string | undefined {
  const value = requestBody(openapi)?.example?.[input];
  return typeof value === "string" && value ? value : undefined;
}

/** A chat flow's shape from its OpenAPI document (`x-promptwise-chat` of /v1/chat/completions), else undefined. */
export function chatShape(openapi: unknown): ChatShape | undefined {
  const chat = (openapi as { paths?: Record<string, any> } | undefined)?.paths?.["/v1/chat/completions"]?.post?.["x-promptwise-chat"];
  if (!chat || typeof chat.input !== "string" || typeof chat.output !== "string") return undefined;
  return { input: chat.input, history: typeof chat.history === "string" ? chat.history : null, output: chat.output };
}

/** True when the OpenAPI document says requests need a key (serve.keys). */
export function needsKey(openapi: unknown): boolean {
  const security = (openapi as { security?: unknown } | undefined)?.security;
  return Array.isArray(security) && security.length > 0;
}

// Both scripts: the extension answers "send"/"chat" with "answer" (the text so far, as it
// streams) and then "done"; "cancel" closes the request; "stopped" says the server is gone and why.
const PRELUDE = `
  const vscode = acquireVsCodeApi();
  const byId = function (id) { return document.getElementById(id); };
  const inputs = byId("inputs"), send = byId("send"), state = byId("state"), stopped = byId("stopped"), cancel = byId("cancel");
  cancel.addEventListener("click", function () { vscode.postMessage({ type: "cancel" }); });
  function serverStopped(m) { stopped.textContent = m.reason; stopped.hidden = false; send.disabled = true; cancel.hidden = true; }
`;

const SCRIPT = `
(function () {${PRELUDE}
  const answer = byId("answer");
  const trace = byId("trace");
  let requestId;
  send.addEventListener("click", function () {
    try { JSON.parse(inputs.value); } catch (error) { state.textContent = "The inputs are not JSON: " + error.message; return; }
    answer.textContent = ""; answer.className = ""; trace.hidden = true; send.disabled = true; cancel.hidden = false; state.textContent = "sending…";
    vscode.postMessage({ type: "send", body: inputs.value });
  });
  trace.addEventListener("click", function () { vscode.postMessage({ type: "trace", requestId: requestId }); });
  window.addEventListener("message", function (event) {
    const m = event.data || {};
    if (m.type === "answer") { answer.textContent = m.text; state.textContent = "streaming…"; }
    else if (m.type === "done") {
      answer.textContent = m.text; answer.className = m.error ? "error" : ""; send.disabled = false; cancel.hidden = true; requestId = m.requestId;
      state.textContent = m.status + (m.ms !== undefined ? " · " + m.ms + " ms" : "");
      trace.hidden = !m.requestId;
    }
    else if (m.type === "stopped") serverStopped(m);
  });
})();
`;

const CHAT_SCRIPT = `
(function () {${PRELUDE}
  const chat = byId("chat");
  const message = byId("message");
  const reset = byId("reset");
  let turns = [];
  let pending;
  function bubble(role, text) {
    const turn = document.createElement("div"); turn.className = "message role-" + role;
    const who = document.createElement("div"); who.className = "role"; who.textContent = role;
    const pre = document.createElement("pre"); pre.textContent = text;
    turn.appendChild(who); turn.appendChild(pre); chat.appendChild(turn);
    return turn;
  }
  function go() {
    const text = message.value.trim();
    if (!text || send.disabled) return;
    let others;
    try { others = JSON.parse(inputs.value || "{}"); } catch (error) { state.textContent = "The other inputs are not JSON: " + error.message; return; }
    bubble("user", text);
    pending = { text: text, turn: bubble("assistant", "") };
    message.value = ""; send.disabled = true; cancel.hidden = false; state.textContent = "sending…";
    vscode.postMessage({ type: "chat", messages: turns.concat([{ role: "user", content: text }]), inputs: others });
  }
  send.addEventListener("click", go);
  message.addEventListener("keydown", function (event) { if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); go(); } });
  reset.addEventListener("click", function () { turns = []; chat.textContent = ""; state.textContent = "new conversation"; });
  window.addEventListener("message", function (event) {
    const m = event.data || {};
    if (!pending && m.type !== "stopped") return;
    if (m.type === "answer") { pending.turn.querySelector("pre").textContent = m.text; state.textContent = "streaming…"; }
    else if (m.type === "done") {
      const pre = pending.turn.querySelector("pre");
      pre.textContent = m.text; send.disabled = false; cancel.hidden = true;
      if (m.error) { pre.className = "error"; }
      else { turns.push({ role: "user", content: pending.text }, { role: "assistant", content: m.reply }); }
      if (m.requestId) {
        const link = document.createElement("button"); link.className = "trace secondary"; link.textContent = "Open the trace";
        const id = m.requestId;
        link.addEventListener("click", function () { vscode.postMessage({ type: "trace", requestId: id }); });
        pending.turn.appendChild(link);
      }
      state.textContent = m.status + (m.ms !== undefined ? " · " + m.ms + " ms" : "") + " · " + (turns.length / 2) + " turn" + (turns.length === 2 ? "" : "s") + " in the history";
      pending = undefined;
    }
    else if (m.type === "stopped") serverStopped(m);
  });
})();
`;

// The request panel's HTTP client for a flow that `promptwise serve` serves: POST /score (Prompt
// flow's contract, Server-Sent Events when the output streams) and, for a chat flow, POST
// /v1/chat/completions with the conversation so far. No vscode import: unit-tested against real
// HTTP servers outside VS Code. The answer is reported as it streams (`onAnswer`), and an error
// answer comes back as one readable line (status, code, message, what to do), never raw JSON.
import { randomBytes } from "node:crypto";

export interface SendOptions {
  /** Sent as `Authorization: Bearer KEY` (a server with `serve.keys` in promptwise.yaml needs one). */
  apiKey?: string;
  /** Called with the whole answer so far each time more of it arrives. */
  onAnswer?: (text: string) => void;
  timeoutMs?: number;
  /** Aborts the request (the panel's Cancel): the connection closes and the server cancels the flow. */
  signal?: AbortSignal;
}

export interface SendOutcome {
  status: number;
  /** The answer as the panel shows it (or the error, readably). */
  text: string;
  /** The request's id (x-request-id): its trace is found by it. */
  requestId: string;
  ms: number;
  /** Set when the answer is an error (an error status, or an error event mid-stream). */
  error?: string;
  /** A chat answer's reply alone (the next turn's history), when it succeeded. */
  reply?: string;
}

export interface ChatMessage {
  role: "user" | "assistant";
  content: string;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const LAST_WORDS = 3;

/** Where to send requests to a server bound to `host`: a wildcard address is reached on loopback. */
export function requestHost(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  if (bare === "0.0.0.0" || bare === "") return "127.0.0.1";
  if (bare === "::") return "[::1]";
  return bare.includes(":") ? `[${bare}]` : bare;
}

/** The lines `promptwise serve` wrote that say why it stopped (not its banner, not its access log's JSON lines), the last few. */
export function lastWords(lines: string[]): string {
  return lines.filter((line) => !line.startsWith("promptwise: serving ") && !line.trimStart().startsWith("{")).slice(-LAST_WORDS).join(" | ");
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
 * A /score answer built from its events: Prompt flow streams each output in pieces
 * (`{"answer": "Hel"}`, `{"answer": "lo"}`) after the outputs that do not stream
 * (`{"category": "disk", "confidence": 0.8}`), so string pieces of one output are joined and
 * other values are set. One string output shows as its text; several as `name: value` lines.
 */
export class ScoreAnswer {
  private readonly outputs = new Map<string, unknown>();
  private raw = "";
  error: string | undefined;

  /** One event's `data:` (JSON, or text that is not). */
  addEvent(data: string): void {
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      this.raw += data;
      return;
    }
    this.add(value);
  }

  /** A whole JSON answer, or one parsed event. */
  add(value: unknown): void {
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      // A flex entry's value that is not an object (Prompt flow answers it as itself).
      const previous = this.outputs.get("");
      this.outputs.set("", typeof value === "string" && typeof previous === "string" ? previous + value : value);
      return;
    }
    const record = value as Record<string, unknown>;
    if (Object.keys(record).length === 1 && record.error && typeof record.error === "object") {
      this.error = errorLine(record.error as Record<string, unknown>);
      return;
    }
    for (const [name, piece] of Object.entries(record)) {
      const previous = this.outputs.get(name);
      this.outputs.set(name, typeof piece === "string" && typeof previous === "string" ? previous + piece : piece);
    }
  }

  text(): string {
    const entries = [...this.outputs.entries()];
    let shown: string;
    if (entries.length === 1 && (typeof entries[0][1] === "string" || entries[0][0] === "")) shown = show(entries[0][1]);
    else shown = entries.map(([name, value]) => outputLine(name, value)).join("\n");
    shown += this.raw;
    if (this.error) shown += `${shown ? "\n" : ""}error: ${this.error}`;
    return shown;
  }
}

function show(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function outputLine(name: string, value: unknown): string {
  const text = show(value);
  return text.includes("\n") ? `${name}:\n${text}` : `${name}: ${text}`;
}

/** "invalid_input: input `log_text` must be a string (request 1f2e)" from `{code, message, id}`. */
function errorLine(error: Record<string, unknown>): string {
  const message = typeof error.message === "string" ? error.message : JSON.stringify(error);
  const code = typeof error.code === "string" && error.code ? `${error.code}: ` : "";
  return `${code}${message}`;
}

/** What to do about an error status, for the statuses a user can act on. */
export function errorAdvice(status: number, retryAfter?: string | null): string {
  if (status === 401) return "this server needs an API key (serve.keys in promptwise.yaml); send again to enter one";
  if (status === 413) return "the request is larger than serve.max_body_bytes in promptwise.yaml";
  if (status === 429 || status === 503) return retryAfter ? `retry after ${retryAfter} s` : "retry shortly";
  if (status === 504) return "the flow took longer than serve.timeout_seconds in promptwise.yaml";
  return "";
}

/** An error answer (JSON `{error: {code, message}}` or any text) as one readable line. */
export function readableError(status: number, body: string, retryAfter?: string | null): string {
  let detail = body.trim();
  try {
    const parsed = JSON.parse(body) as { error?: unknown; detail?: unknown };
    if (parsed && typeof parsed.error === "object" && parsed.error) detail = errorLine(parsed.error as Record<string, unknown>);
    else if (typeof parsed?.detail === "string") detail = parsed.detail;
  } catch {
    // not JSON: the text as it came
  }
  const advice = errorAdvice(status, retryAfter);
  return [`HTTP ${status}`, detail || "no message", advice].filter(Boolean).join(" · ");
}

function requestSignal(options: SendOptions): AbortSignal {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  return options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
}

function headers(requestId: string, options: SendOptions, accept: string): Record<string, string> {
  const result: Record<string, string> = { "content-type": "application/json", accept, "x-request-id": requestId };
  if (options.apiKey) result.authorization = `Bearer ${options.apiKey}`;
  return result;
}

/** Reads a text/event-stream body, calling `onEvent` with each event's data as it arrives. */
async function readEvents(body: AsyncIterable<Uint8Array>, onEvent: (data: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body) {
    const parsed = parseSseEvents(buffer + decoder.decode(chunk, { stream: true }));
    buffer = parsed.rest;
    parsed.events.forEach(onEvent);
  }
  parseSseEvents(buffer + decoder.decode() + "\n\n").events.forEach(onEvent);
}

function isEventStream(response: Response): boolean {
  return (response.headers.get("content-type") ?? "").startsWith("text/event-stream") && response.body !== null;
}

/** POST /score with the inputs (a JSON text), asking for events; the answer as it streams. */
export async function sendScore(url: string, body: string, options: SendOptions = {}): Promise<SendOutcome> {
  const requestId = randomBytes(8).toString("hex");
  const started = Date.now();
  const response = await fetch(`${url}/score`, {
    method: "POST",
    headers: headers(requestId, options, "text/event-stream, application/json"),
    body,
    signal: requestSignal(options),
  });
  const id = response.headers.get("x-request-id") ?? requestId;
  if (!response.ok) {
    const text = readableError(response.status, await response.text(), response.headers.get("retry-after"));
    return { status: response.status, text, requestId: id, ms: Date.now() - started, error: text };
  }
  const answer = new ScoreAnswer();
  if (isEventStream(response)) {
    await readEvents(response.body as unknown as AsyncIterable<Uint8Array>, (data) => {
      answer.addEvent(data);
      options.onAnswer?.(answer.text());
    });
  } else {
    const raw = await response.text();
    try {
      answer.add(JSON.parse(raw));
    } catch {
      answer.addEvent(raw);
    }
  }
  return { status: response.status, text: answer.text(), requestId: id, ms: Date.now() - started, error: answer.error };
}

/**
 * POST /v1/chat/completions (streamed) with the conversation so far and the new message last;
 * `inputs` are the flow's other inputs. The server puts the earlier turns in the flow's chat
 * history in the shape the flow takes (a DAG's turns, a prompty's or flex flow's messages).
 */
export async function sendChat(url: string, messages: ChatMessage[], inputs: Record<string, unknown>, options: SendOptions = {}): Promise<SendOutcome> {
  const requestId = randomBytes(8).toString("hex");
  const started = Date.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: headers(requestId, options, "text/event-stream, application/json"),
    body: JSON.stringify({ messages, stream: true, ...(Object.keys(inputs).length ? { inputs } : {}) }),
    signal: requestSignal(options),
  });
  const id = response.headers.get("x-request-id") ?? requestId;
  if (!response.ok) {
    const text = readableError(response.status, await response.text(), response.headers.get("retry-after"));
    return { status: response.status, text, requestId: id, ms: Date.now() - started, error: text };
  }
  let reply = "";
  let error: string | undefined;
  const shown = () => (error ? `${reply}${reply ? "\n" : ""}error: ${error}` : reply);
  const take = (data: string) => {
    if (data.trim() === "[DONE]") return;
    let chunk: { choices?: Array<{ delta?: { content?: unknown }; message?: { content?: unknown } }>; error?: Record<string, unknown> };
    try {
      chunk = JSON.parse(data);
    } catch {
      return;
    }
    if (chunk.error && typeof chunk.error === "object") error = errorLine(chunk.error);
    for (const choice of chunk.choices ?? []) {
      const content = choice.delta?.content ?? choice.message?.content;
      if (typeof content === "string") reply += content;
    }
    options.onAnswer?.(shown());
  };
  if (isEventStream(response)) await readEvents(response.body as unknown as AsyncIterable<Uint8Array>, take);
  else take(await response.text());
  return { status: response.status, text: shown(), requestId: id, ms: Date.now() - started, error, reply: error ? undefined : reply };
}

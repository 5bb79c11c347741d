// The request panel's HTTP client against real HTTP servers on 127.0.0.1 that answer as
// `promptwise serve` does (its SSE events, its error bodies, OpenAI's chat chunks).
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { lastWords, parseSseEvents, requestHost, readableError, ScoreAnswer, sendChat, sendScore } from "../src/serveClient";

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void | Promise<void>;

const servers: Server[] = [];
after(() => servers.forEach((server) => server.close()));

async function serve(handler: Handler): Promise<string> {
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => void handler(request, body, response));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function events(response: ServerResponse, requestId = "req-1"): void {
  response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "x-request-id": requestId });
}

describe("server-sent events", () => {
  it("splits complete events and keeps the rest", () => {
    assert.deepEqual(parseSseEvents('data: {"a": 1}\n\ndata: {"b"'), { events: ['{"a": 1}'], rest: 'data: {"b"' });
    assert.deepEqual(parseSseEvents("data: x\r\ndata: y\r\n\r\n: comment\n\n"), { events: ["x\ny"], rest: "" });
  });
});

describe("a /score answer", () => {
  it("joins each output's streamed pieces under its name, after the outputs that do not stream", () => {
    // As log-triage streams: its non-streaming outputs first, then business_summary in pieces.
    const answer = new ScoreAnswer();
    for (const data of ['{"category": "data_quality", "confidence": 0.8, "proposal": null}', '{"business_summary": "**What "}', '{"business_summary": "happened**\\n- disk"}']) answer.addEvent(data);
    // Was: the first event as a JSON block with the pieces glued after its closing brace.
    assert.equal(answer.text(), 'category: data_quality\nconfidence: 0.8\nproposal: null\nbusiness_summary:\n**What happened**\n- disk');
  });
  it("shows one streamed output as its text, a flex entry's plain value as itself, an error event readably", () => {
    const one = new ScoreAnswer();
    for (const data of ['{"answer": "Hel"}', '{"answer": "lo"}']) one.addEvent(data);
    assert.equal(one.text(), "Hello");
    const plain = new ScoreAnswer();
    for (const data of ['"alpha "', '"beta "']) plain.addEvent(data);
    assert.equal(plain.text(), "alpha beta ");
    one.addEvent('{"error": {"code": "FlowExecutionError", "message": "the flow\'s output failed: ValueError"}}');
    assert.equal(one.text(), "Hello\nerror: FlowExecutionError: the flow's output failed: ValueError");
    assert.equal(one.error, "FlowExecutionError: the flow's output failed: ValueError");
  });
});

describe("sending to a served flow", () => {
  it("reports the answer as each event arrives, before the stream ends", { timeout: 20_000 }, async () => {
    let seen: (text: string) => void = () => undefined;
    const firstShown = new Promise<string>((resolve) => (seen = resolve));
    const url = await serve(async (request, body, response) => {
      assert.equal(request.url, "/score");
      assert.equal(JSON.parse(body).question, "hi");
      assert.match(request.headers.accept ?? "", /text\/event-stream/);
      events(response, String(request.headers["x-request-id"]));
      response.write('data: {"answer": "Hel"}\n\n');
      // The second piece is sent only once the client has shown the first: streamed, not buffered.
      await firstShown;
      response.end('data: {"answer": "lo"}\n\n');
    });
    const shown: string[] = [];
    const outcome = await sendScore(url, JSON.stringify({ question: "hi" }), {
      onAnswer: (text) => {
        shown.push(text);
        seen(text);
      },
    });
    assert.deepEqual(shown, ["Hel", "Hello"]);
    assert.equal(outcome.status, 200);
    assert.equal(outcome.text, "Hello");
    assert.equal(outcome.error, undefined);
    assert.match(outcome.requestId, /^[0-9a-f]{16}$/); // the id we sent, which the server echoes
  });

  it("Cancel closes the connection mid-stream (the server cancels the flow on that)", { timeout: 20_000 }, async () => {
    let serverSawClose: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => (serverSawClose = resolve));
    const url = await serve((_request, _body, response) => {
      events(response);
      response.write('data: {"answer": "Hel"}\n\n'); // and nothing more until the client leaves
      response.on("close", () => serverSawClose());
    });
    const cancel = new AbortController();
    const sending = sendScore(url, "{}", { signal: cancel.signal, onAnswer: () => cancel.abort() });
    await assert.rejects(sending, { name: "AbortError" });
    await closed;
  });

  it("shows an error answer as one readable line with what to do, not JSON", async () => {
    const url = await serve((request, _body, response) => {
      const status = Number(request.headers["x-status"] ?? 422);
      const headers: Record<string, string> = { "content-type": "application/json", "x-request-id": "e1" };
      if (status === 503) headers["retry-after"] = "5";
      response.writeHead(status, headers);
      const message = { 401: "missing or unknown API key", 422: "input `log_text` is required (a string)", 503: "the model endpoint is down" }[status];
      response.end(JSON.stringify({ error: { code: status === 422 ? "invalid_input" : "unavailable", message, id: "e1" } }));
    });
    const invalid = await sendScore(url, "{}");
    assert.equal(invalid.status, 422);
    assert.equal(invalid.text, "HTTP 422 · invalid_input: input `log_text` is required (a string)");
    assert.equal(invalid.error, invalid.text);
    assert.equal(invalid.requestId, "e1");
    assert.equal(readableError(503, '{"error": {"code": "unavailable", "message": "the model endpoint is down"}}', "5"), "HTTP 503 · unavailable: the model endpoint is down · retry after 5 s");
    assert.match(readableError(401, '{"error": {"message": "missing or unknown API key"}}'), /^HTTP 401 · missing or unknown API key · this server needs an API key \(serve\.keys/);
    assert.equal(readableError(500, "Internal Server Error"), "HTTP 500 · Internal Server Error");
  });

  it("sends the API key as a bearer token, and a plain JSON answer as its outputs", async () => {
    const url = await serve((request, _body, response) => {
      response.writeHead(request.headers.authorization === "Bearer k-123" ? 200 : 401, { "content-type": "application/json" });
      response.end(JSON.stringify({ category: "disk", score: 1 }));
    });
    assert.equal((await sendScore(url, "{}")).status, 401);
    const outcome = await sendScore(url, "{}", { apiKey: "k-123" });
    assert.equal(outcome.text, "category: disk\nscore: 1");
  });

  it("chats: the conversation and the other inputs go to /v1/chat/completions, the reply streams back", async () => {
    let sent: { messages?: unknown; stream?: unknown; inputs?: unknown } = {};
    const url = await serve((request, body, response) => {
      assert.equal(request.url, "/v1/chat/completions");
      sent = JSON.parse(body);
      events(response);
      const chunk = (delta: object) => `data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`;
      response.end(chunk({ role: "assistant", content: "" }) + chunk({ content: "Par" }) + chunk({ content: "is" }) + "data: [DONE]\n\n");
    });
    const history = [
      { role: "user" as const, content: "Capital of France?" },
      { role: "assistant" as const, content: "Paris" },
      { role: "user" as const, content: "And its river?" },
    ];
    const shown: string[] = [];
    const outcome = await sendChat(url, history, { tone: "plain" }, { onAnswer: (text) => shown.push(text) });
    assert.deepEqual(sent, { messages: history, stream: true, inputs: { tone: "plain" } });
    assert.equal(outcome.reply, "Paris");
    assert.equal(outcome.text, "Paris");
    assert.ok(shown.includes("Par"), `the reply was not shown in pieces: ${JSON.stringify(shown)}`);
  });

  it("says a chat that fails mid-stream failed, and keeps no reply for the history", async () => {
    const url = await serve((_request, _body, response) => {
      events(response);
      response.end(`data: ${JSON.stringify({ choices: [{ delta: { content: "Par" } }] })}\n\ndata: ${JSON.stringify({ error: { message: "the flow's output failed: KeyError", code: "FlowExecutionError" } })}\n\n`);
    });
    const outcome = await sendChat(url, [{ role: "user", content: "hi" }], {});
    assert.equal(outcome.text, "Par\nerror: FlowExecutionError: the flow's output failed: KeyError");
    assert.equal(outcome.reply, undefined);
  });
});

describe("a server that stopped", () => {
  it("is explained by its last lines, not its banner", () => {
    const lines = ["promptwise: serving /w/flow.dag.yaml on http://127.0.0.1:5 (1 worker; POST /score)", "promptwise: error: cannot listen on 127.0.0.1:5: Address already in use; stop the process using it or choose another --port (or --host)"];
    assert.equal(lastWords(lines), lines[1]);
    assert.equal(lastWords(["a", "b", "c", "d"]), "b | c | d");
    // Its access log (one JSON line a request) says nothing about why it stopped.
    assert.equal(lastWords([lines[0], '{"ts": 1796655440.997, "id": "36b2", "route": "/score", "status": 200}']), "");
  });
});

describe("a server bound to another address", () => {
  it("is called on loopback when it listens on every address, in brackets when IPv6", () => {
    assert.equal(requestHost("0.0.0.0"), "127.0.0.1");
    assert.equal(requestHost("::"), "[::1]");
    assert.equal(requestHost("[::]"), "[::1]");
    assert.equal(requestHost("fe80::1"), "[fe80::1]");
    assert.equal(requestHost("192.168.1.20"), "192.168.1.20");
    assert.equal(requestHost("127.0.0.1"), "127.0.0.1");
  });
});

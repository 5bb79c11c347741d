import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chatShape, exampleInputs, needsKey, renderServeHtml, sampleText } from "../src/serveHtml";
import { renderResultsHtml, tracedRun } from "../src/resultsHtml";

const security = { nonce: "n0nce", cspSource: "https://file+.vscode-resource.vscode-cdn.net" };

function openapi(properties: Record<string, unknown>, example?: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const content = { schema: { properties }, ...(example ? { example } : {}) };
  return { paths: { "/score": { post: { requestBody: { content: { "application/json": content } } } } }, ...extra };
}

describe("request panel", () => {
  it("starts from the flow's inputs with their defaults", () => {
    const document = openapi({ log_text: { type: "string" }, limit: { type: "integer", default: 3 }, tags: { type: "array" } });
    assert.deepEqual(JSON.parse(exampleInputs(document)), { log_text: "", limit: 3, tags: [] });
    assert.equal(exampleInputs({}), "{}");
    assert.equal(exampleInputs(undefined), "{}");
  });
  it("starts from a prompty's sample (the document's example), and leaves out what a chat fills itself", () => {
    // Was {"question": "", "chat_history": []}: the sample was ignored.
    const document = openapi({ question: { type: "string" }, chat_history: { type: "array", default: [] }, tone: { type: "string" } }, { question: "What is the capital of France?", chat_history: [] });
    assert.deepEqual(JSON.parse(exampleInputs(document)), { question: "What is the capital of France?", chat_history: [], tone: "" });
    assert.deepEqual(JSON.parse(exampleInputs(document, ["question", "chat_history"])), { tone: "" });
    assert.equal(sampleText(document, "question"), "What is the capital of France?");
    assert.equal(sampleText(document, "chat_history"), undefined);
  });
  it("knows a chat flow and a server that wants a key from the OpenAPI document", () => {
    const chat = { paths: { "/v1/chat/completions": { post: { "x-promptwise-chat": { input: "question", history: "chat_history", output: "answer" } } } } };
    assert.deepEqual(chatShape(chat), { input: "question", history: "chat_history", output: "answer" });
    assert.equal(chatShape({ paths: { "/v1/chat/completions": { post: {} } } }), undefined);
    assert.equal(chatShape(openapi({})), undefined);
    assert.equal(needsKey({ security: [{ bearer: [] }] }), true);
    assert.equal(needsKey(openapi({})), false);
  });
  it("has the strict CSP (no network from the page) and escapes its values", () => {
    const html = renderServeHtml({ url: "http://127.0.0.1:5050", flowName: "<flow>", inputs: '{"q": "</textarea>"}' }, security);
    assert.doesNotMatch(html, /connect-src/);
    assert.match(html, /default-src &#39;none&#39;/);
    assert.ok(html.includes("&lt;flow&gt;") && html.includes("&lt;/textarea&gt;"));
    for (const tag of html.match(/<(script|style)\b[^>]*>/g) ?? []) assert.match(tag, /nonce="n0nce"/);
  });
  it("is a chat for a chat flow: the message box names the input, the other inputs stay editable", () => {
    const html = renderServeHtml({ url: "http://127.0.0.1:5050", flowName: "chat.prompty", inputs: '{"tone": "plain"}', chat: { input: "question", history: "chat_history", output: "output" }, sample: "Capital of <France>?", needsKey: true }, security);
    assert.match(html, /<body data-kind="serve-chat">/);
    assert.match(html, /POST <code>http:\/\/127\.0\.0\.1:5050\/v1\/chat\/completions<\/code>/);
    assert.match(html, /<textarea id="message" spellcheck="true" placeholder="Capital of &lt;France&gt;\?">/);
    assert.match(html, /the flow's <code>question<\/code>/);
    assert.match(html, /<details id="others" open><summary>Other inputs \(JSON\)<\/summary><textarea id="inputs" spellcheck="false">\{&quot;tone&quot;: &quot;plain&quot;\}/);
    assert.match(html, /<button id="reset"/);
    assert.match(html, /API key required/);
  });
});

describe("the request panel's scripts", () => {
  it("parse, in both modes (they run only inside VS Code)", () => {
    for (const chat of [undefined, { input: "q", history: null, output: "a" }]) {
      const html = renderServeHtml({ url: "http://127.0.0.1:1", flowName: "f", inputs: "{}", chat }, security);
      const script = /<script nonce="n0nce">([\s\S]*)<\/script>/.exec(html)?.[1] ?? "";
      assert.ok(script.includes("acquireVsCodeApi") && script.includes("serverStopped"));
      assert.doesNotThrow(() => new Function(script), `the ${chat ? "chat" : "score"} page's script does not parse`);
    }
  });
});

describe("Show trace from the results panel", () => {
  it("names the run, then the evaluation, and puts a button on each evaluation row", () => {
    assert.deepEqual(tracedRun("evaluation", { run: "r1", evaluation: "r1.eval1" }), ["r1", "r1.eval1"]);
    assert.equal(tracedRun("estimate", { run: "x" }), undefined);
    const html = renderResultsHtml(
      { kind: "evaluation", title: "Evaluation", data: { run: "r1", evaluation: "r1.eval1", metrics: {}, rows: [{ line: 7, inputs: {}, outputs: {}, scores: { m: { value: 1, passed: true } } }] } },
      security,
    );
    assert.match(html, /data-trace-runs="\[&quot;r1&quot;,&quot;r1.eval1&quot;\]"/);
    assert.match(html, /<button class="show-trace" data-row="7">/);
  });
  it("puts a button on each batch row, a failed one too, opening that row of the batch's run", () => {
    const html = renderResultsHtml(
      { kind: "batch", title: "Batch", data: { run: "b1", status: "completed", rows: [{ index: 0, status: "completed", outputs: { a: 1 } }, { index: 1, status: "failed", error: "boom" }] } },
      security,
    );
    assert.match(html, /data-trace-runs="\[&quot;b1&quot;\]"/);
    assert.deepEqual(html.match(/<button class="show-trace" data-row="\d+">/g), ['<button class="show-trace" data-row="0">', '<button class="show-trace" data-row="1">']);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyEvent, exampleInputs, parseSseEvents, renderServeHtml } from "../src/serveHtml";
import { renderResultsHtml, tracedRun } from "../src/resultsHtml";

const security = { nonce: "n0nce", cspSource: "https://file+.vscode-resource.vscode-cdn.net" };

describe("server-sent events", () => {
  it("splits complete events and keeps the rest", () => {
    assert.deepEqual(parseSseEvents('data: {"a": 1}\n\ndata: {"b"'), { events: ['{"a": 1}'], rest: 'data: {"b"' });
    assert.deepEqual(parseSseEvents("data: x\r\ndata: y\r\n\r\n: comment\n\n"), { events: ["x\ny"], rest: "" });
  });
  it("appends streamed text, shows other outputs and errors", () => {
    let shown = "";
    for (const event of ['{"answer": "Hel"}', '{"answer": "lo"}']) shown = applyEvent(shown, event);
    assert.equal(shown, "Hello");
    assert.match(applyEvent(shown, '{"category": "disk", "score": 1}'), /^Hello\n\{\n  "category": "disk"/);
    assert.equal(applyEvent("", '{"error": {"code": "flow_error", "message": "boom"}}'), "error: boom");
  });
});

describe("request panel", () => {
  it("starts from the flow's inputs with their defaults", () => {
    const openapi = { paths: { "/score": { post: { requestBody: { content: { "application/json": { schema: { properties: { log_text: { type: "string" }, limit: { type: "integer", default: 3 }, tags: { type: "array" } } } } } } } } } };
    assert.deepEqual(JSON.parse(exampleInputs(openapi)), { log_text: "", limit: 3, tags: [] });
    assert.equal(exampleInputs({}), "{}");
    assert.equal(exampleInputs(undefined), "{}");
  });
  it("has the strict CSP (no network from the page) and escapes its values", () => {
    const html = renderServeHtml({ url: "http://127.0.0.1:5050", flowName: "<flow>", inputs: '{"q": "</textarea>"}' }, security);
    assert.doesNotMatch(html, /connect-src/);
    assert.match(html, /default-src &#39;none&#39;/);
    assert.ok(html.includes("&lt;flow&gt;") && html.includes("&lt;/textarea&gt;"));
    for (const tag of html.match(/<(script|style)\b[^>]*>/g) ?? []) assert.match(tag, /nonce="n0nce"/);
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
});

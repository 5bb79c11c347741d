import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderReplayHtml } from "../src/traceReplayHtml";
import { MIN_BAR_PERCENT, messagesHtml, renderTraceHtml, spanCost, spanTokens, traceSummary, waterfallRows, type TraceDocument, type TraceSpan } from "../src/traceHtml";

const security = { nonce: "n0nce", cspSource: "https://file+.vscode-resource.vscode-cdn.net" };

function span(id: string, offset: number, duration: number, extra: Partial<TraceSpan> = {}, children: TraceSpan[] = []): TraceSpan {
  return { span_id: id, name: id, kind: "node", offset_ms: offset, duration_ms: duration, children, ...extra };
}

const call = span("call", 100, 600, {
  kind: "llm",
  model: "gpt-4o-mini",
  input_tokens: 120,
  output_tokens: 30,
  cost_usd: 0.00004,
  content: {
    input_messages: [{ role: "system", parts: [{ type: "text", content: "Classify <logs> & say \"why\"" }] }],
    output_messages: [{ role: "assistant", parts: [{ type: "text", content: "<script>alert(1)</script>" }] }],
  },
});
const trace: TraceDocument = {
  trace_id: "0123456789abcdef0123456789abcdef",
  name: "invoke_workflow triage",
  status: "ok",
  duration_ms: 1000,
  run_id: "r1",
  row_index: 3,
  totals: { spans: 4, llm_calls: 1, cache_hits: 0, input_tokens: 120, output_tokens: 30, cost_usd: 0.00004 },
  spans: [
    span("flow", 0, 1000, { kind: "flow", subtree: { llm_calls: 1, input_tokens: 120, output_tokens: 30, cost_usd: 0.00004 } }, [
      span("lookup", 0, 0.01, { subtree: { llm_calls: 0, input_tokens: 0, output_tokens: 0, cost_usd: null } }),
      span("classify", 50, 700, { subtree: { llm_calls: 1, input_tokens: 120, output_tokens: 30, cost_usd: 0.00004 } }, [call]),
    ]),
  ],
};

describe("waterfall layout", () => {
  it("walks the tree depth-first with depths", () => {
    const rows = waterfallRows(trace.spans, trace.duration_ms);
    assert.deepEqual(rows.map((r) => [r.span.span_id, r.depth]), [["flow", 0], ["lookup", 1], ["classify", 1], ["call", 2]]);
  });
  it("places bars in percent of the trace's duration", () => {
    const rows = waterfallRows(trace.spans, trace.duration_ms);
    const byId = Object.fromEntries(rows.map((r) => [r.span.span_id, r]));
    assert.deepEqual([byId.flow.left, byId.flow.width], [0, 100]);
    assert.deepEqual([byId.classify.left, byId.classify.width], [5, 70]);
    assert.deepEqual([byId.call.left, byId.call.width], [10, 60]);
  });
  it("gives a tiny span a visible bar that stays inside the scale", () => {
    const rows = waterfallRows([span("a", 999.99, 0.001)], 1000);
    assert.equal(rows[0].width, MIN_BAR_PERCENT);
    assert.ok(rows[0].left + rows[0].width <= 100);
  });
  it("scales to the furthest end when a child outlives the trace's duration", () => {
    const rows = waterfallRows([span("root", 0, 100, {}, [span("late", 50, 150)])], 100);
    assert.equal(rows[1].left + rows[1].width, 100);
    assert.equal(rows[0].width, 50);
  });
  it("draws full bars for a zero-length trace and survives a deep tree", () => {
    assert.equal(waterfallRows([span("z", 0, 0)], 0)[0].width, 100);
    let deep = span("leaf", 0, 1);
    for (let i = 0; i < 20000; i++) deep = span(`s${i}`, 0, 1, {}, [deep]);
    assert.equal(waterfallRows([deep], 1).length, 2000); // capped, and no stack overflow
  });
});

describe("trace page", () => {
  const html = renderTraceHtml(trace, security, "call");
  it("has the strict CSP and nonce'd script and style only", () => {
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;/);
    for (const tag of html.match(/<(script|style)\b[^>]*>/g) ?? []) assert.match(tag, /nonce="n0nce"/);
    assert.doesNotMatch(html, /\sstyle="/, "inline style attributes would be blocked by the CSP");
    assert.doesNotMatch(html, /\son[a-z]+="/, "inline handlers would be blocked by the CSP");
  });
  it("escapes messages and replies", () => {
    assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert.ok(html.includes("Classify &lt;logs&gt; &amp; say &quot;why&quot;"));
    assert.ok(!html.includes("<script>alert(1)"));
  });
  it("shows timings, tokens and cost per span, bars as SVG, the focused span open", () => {
    assert.match(html, /<rect class="kind-llm" x="10" y="1" width="60" height="8">/);
    assert.match(html, /<tr class="span-row focused" data-span="call"/);
    assert.match(html, /<details data-span="call" open>/);
    assert.ok(html.includes("Replay with the current prompt"));
    assert.equal(spanTokens(call), "120→30");
    assert.equal(spanTokens(trace.spans[0].children[0]), "");
    assert.equal(spanTokens(trace.spans[0]), "150");
    assert.equal(spanCost(trace.spans[0].children[0]), "");
    assert.notEqual(spanCost(call), "");
  });
  it("summarises the trace", () => {
    const summary = traceSummary(trace);
    assert.match(summary, /1 model call · 150 tokens/);
    assert.match(summary, /run r1 row 3/);
  });
  it("shows an encrypted call's placeholder (tracing.encrypt without the key) instead of hiding it", () => {
    const locked = span("locked", 0, 10, { kind: "llm", content: {
      input_messages: "[encrypted with key 1a2b3c4d: `tracing.encrypt.key` names the environment variable KEY, which is not set]",
      output_messages: "[encrypted with key 1a2b3c4d: <set KEY>]" } });
    const page = renderTraceHtml({ ...trace, spans: [locked] }, security, "locked");
    assert.ok(page.includes("the environment variable KEY, which is not set"));
    assert.ok(page.includes("&lt;set KEY&gt;") && !page.includes("<set KEY>"));
    assert.ok(!page.includes("Replay with the current prompt"));
  });
  it("renders odd messages as text", () => {
    assert.match(messagesHtml(["plain", { role: "user", content: "hi" }, { role: "assistant", parts: [{ type: "tool_call", name: "f", arguments: "{}" }] }]), /\[tool call f\(\{\}\)\]/);
  });
});

describe("replay page", () => {
  it("puts recorded and replayed calls side by side, escaped, without scripts", () => {
    const html = renderReplayHtml(
      {
        status: "ok",
        template: "classify.jinja2",
        original: { model: "gpt-4o-mini", messages: [{ role: "user", parts: [{ type: "text", content: "old" }] }], reply: "A" },
        replay: { model: "gpt-4o", messages: [{ role: "user", parts: [{ type: "text", content: "new <b>" }] }], reply: "B" },
      },
      security,
    );
    assert.match(html, /Replay · gpt-4o-mini → gpt-4o/);
    assert.match(html, /the prompt changed · the reply changed/);
    assert.ok(html.indexOf("Recorded") < html.indexOf("Replayed"));
    assert.ok(html.includes("new &lt;b&gt;"));
    assert.match(html, /<script nonce="n0nce"><\/script>/);
  });
});

describe("a served request's feedback", () => {
  it("shows the body a client sent to POST /feedback under its own heading, indented", () => {
    const feedback = span("fb", 900, 1, { kind: "feedback", name: "promptflow-feedback", attributes: { feedback: '{"rating": 1, "comment": "<wrong>"}' } });
    const html = renderTraceHtml({ ...trace, spans: [feedback] }, security);
    assert.match(html, /<h4>Feedback<\/h4><pre>\{\n  &quot;rating&quot;: 1,\n  &quot;comment&quot;: &quot;&lt;wrong&gt;&quot;\n\}<\/pre>/);
    assert.doesNotMatch(renderTraceHtml({ ...trace, spans: [span("n", 0, 1, { attributes: { feedback: "x" } })] }, security), /<h4>Feedback/);
  });
});

describe("a failed trace", () => {
  it("says at the top where it failed and why, and opens that span", () => {
    const failedCall = span("call", 100, 5, { kind: "llm", status: "error", error_type: "RateLimitError", error_message: "429 <slow down>" });
    const failed: TraceDocument = {
      ...trace,
      status: "error",
      spans: [span("flow", 0, 200, { kind: "flow", status: "error", error_type: "FlowError" }, [span("classify", 50, 100, { status: "error", error_type: "NodeError" }, [failedCall]), span("other", 60, 1)])],
    };
    const html = renderTraceHtml(failed, security);
    assert.match(html, /<p class="error" role="alert">call failed: RateLimitError: 429 &lt;slow down&gt;<\/p>/);
    assert.match(html, /<tr class="span-row failed focused" data-span="call"/);
    assert.match(html, /<details data-span="call" open>/);
    // A span asked for (a node's lens) keeps the focus.
    assert.match(renderTraceHtml(failed, security, "other"), /<tr class="span-row focused" data-span="other"/);
    assert.doesNotMatch(renderTraceHtml(trace, security), /role="alert"/);
  });
});

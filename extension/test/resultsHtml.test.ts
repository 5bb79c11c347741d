import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { barChart, contentSecurityPolicy, escapeHtml, findRows, flattenScalars, numericMetrics, renderResultsHtml } from "../src/resultsHtml";

const security = { nonce: "abc123nonce", cspSource: "https://file+.vscode-resource.vscode-cdn.net" };

describe("content security policy", () => {
  const csp = contentSecurityPolicy(security);
  it("denies by default and allows only the nonce'd script", () => {
    assert.match(csp, /^default-src 'none'/);
    assert.match(csp, /script-src 'nonce-abc123nonce'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:\/\/(?!file\+)/);
  });
  it("every script and style in the page carries the nonce", () => {
    const html = renderResultsHtml({ kind: "run", title: "Run", data: { run: "r1" } }, security);
    const scripts = html.match(/<script\b[^>]*>/g) ?? [];
    const styles = html.match(/<style\b[^>]*>/g) ?? [];
    assert.ok(scripts.length === 1 && styles.length === 1);
    for (const tag of [...scripts, ...styles]) assert.match(tag, /nonce="abc123nonce"/);
    assert.doesNotMatch(html, /\sstyle="/, "inline style attributes would be blocked by the CSP");
    assert.doesNotMatch(html, /\son[a-z]+="/, "inline event handlers would be blocked by the CSP");
  });
});

describe("escaping", () => {
  it("escapes markup in values from the server", () => {
    assert.equal(escapeHtml(`<img src=x onerror="a">&'`), "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;");
    const html = renderResultsHtml({ kind: "run", title: "<b>t</b>", data: { outputs: { answer: "<script>alert(1)</script>" } } }, security);
    assert.ok(!html.includes("<script>alert(1)</script>"));
    assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert.ok(html.includes("<h1>&lt;b&gt;t&lt;/b&gt;</h1>"));
  });
});

describe("run page", () => {
  const html = renderResultsHtml(
    { kind: "run", title: "Run r1", data: { run: "r1", status: "completed", outputs: { category: "billing" }, tokens: { total: 57 }, cost: 0.00012, latency_ms: 830 } },
    security,
  );
  it("summarises with formatted numbers", () => {
    assert.ok(html.includes("<tr><th>tokens</th><td>57</td></tr>"));
    assert.ok(html.includes("<tr><th>cost</th><td>$0.00012</td></tr>"));
    assert.ok(html.includes("<tr><th>latency_ms</th><td>830 ms</td></tr>"));
  });
  it("shows Unix times from the run store as UTC dates", () => {
    const page = renderResultsHtml({ kind: "details", title: "r", data: { created_at: 1795282816.35 } }, security);
    assert.ok(page.includes("<tr><th>created_at</th><td>2026-11-21 17:40:16 UTC</td></tr>"));
  });
  it("shows the outputs", () => {
    assert.match(html, /<h2>Outputs<\/h2><pre class="json">\{\n {2}&quot;category&quot;: &quot;billing&quot;\n\}<\/pre>/);
  });
  it("shows an error section only when there is an error", () => {
    assert.ok(!html.includes("<h2>Error</h2>"));
    const failed = renderResultsHtml({ kind: "run", title: "r", data: { error: { message: "429 from provider" } } }, security);
    assert.ok(failed.includes('<h2>Error</h2><pre class="error">429 from provider</pre>'));
  });
});

describe("evaluation page", () => {
  const data = {
    run: "e1",
    metrics: { groundedness: 4.3, pass_rate: 0.92, latency: { p50: 900, p95: 1800 }, label: "x" },
    rows: [
      { line: 0, status: "completed", score: 5, inputs: { q: "a" } },
      { line: 1, status: "failed", error: "timeout", inputs: { q: "b" } },
    ],
  };
  const html = renderResultsHtml({ kind: "evaluation", title: "Eval", data }, security);
  it("flattens numeric metrics", () => {
    assert.deepEqual(numericMetrics(data.metrics), [["groundedness", 4.3], ["pass_rate", 0.92], ["latency.p50", 900], ["latency.p95", 1800]]);
  });
  it("has a metrics table and a chart with one bar per metric", () => {
    assert.ok(html.includes("<th>groundedness</th><td class=\"num\">4.30</td>"));
    const metricsChart = html.slice(html.indexOf("<h2>Metrics</h2>"), html.indexOf("</section>", html.indexOf("<h2>Metrics</h2>")));
    assert.equal((metricsChart.match(/<rect class="bar/g) ?? []).length, 4);
  });
  it("lists rows with a drill-down each, failed rows marked", () => {
    assert.ok(html.includes("<h2>Rows (2)</h2>"));
    assert.equal((html.match(/<details><summary>row \d+ details<\/summary>/g) ?? []).length, 2);
    assert.match(html, /<tr class="row failed" data-row="1">/);
    assert.match(html, /id="row-filter"/);
  });
  it("finds rows under the usual keys only when they are objects", () => {
    assert.equal(findRows({ rows: [1, 2] }), undefined);
    assert.equal(findRows({ results: [{ a: 1 }] })?.key, "results");
  });
});

describe("bar chart", () => {
  it("scales bars to the largest value", () => {
    const svg = barChart([["a", 2], ["b", 1]]);
    const widths = [...svg.matchAll(/<rect class="bar" x="\d+" y="\d+" width="(\d+)"/g)].map((m) => Number(m[1]));
    assert.deepEqual(widths, [320, 160]);
  });
  it("is empty without values", () => assert.equal(barChart([]), ""));
});

describe("odd results", () => {
  it("null result says so", () => {
    assert.match(renderResultsHtml({ kind: "details", title: "x", data: null }, security), /The server returned no result/);
  });
  it("array result is shown as JSON", () => {
    assert.match(renderResultsHtml({ kind: "comparison", title: "x", data: [1, 2] }, security), /<h2>Result<\/h2><pre class="json">/);
  });
});

describe("evaluation page in promptwise eval's shape", () => {
  const metric = (mean: number, passRate: number, extra: object = {}) => ({ type: "exact_match", threshold: 1, count: 64, scored: 64, errors: 0, mean, p50: 1, p95: 1, passed: Math.round(passRate * 64), failed: 64 - Math.round(passRate * 64), pass_rate: passRate, ...extra });
  const data = {
    evaluation: "log-triage_1.eval1",
    run: "log-triage_1",
    metrics: {
      category_match: metric(0.96875, 0.96875),
      triage_classes: metric(0.96875, 0.96875, {
        type: "classification",
        per_class: { new: { precision: 1, recall: 1 } },
        confusion: { labels: ["access_control", "new"], matrix: [[18, 0], [1, 10]] },
      }),
      triage_latency: metric(8.7, 1, { type: "latency", threshold: 8000 }),
    },
    summary: { rows: 64, latency_p95_ms: 14.87, cost_per_row: 0.0004 },
    rows: [
      { line: 0, scores: { category_match: { value: 1, passed: true }, triage_latency: { value: 7.2, passed: true } } },
      { line: 1, scores: { category_match: { value: 0, passed: false, reason: "expected new" }, triage_latency: { value: 9.1, passed: true } } },
    ],
  };
  const html = renderResultsHtml({ kind: "evaluation", title: "Evaluation", data }, security);
  it("one table row per evaluator with mean and pass rate", () => {
    assert.match(html, /<tr><th>category_match<\/th><td>exact_match<\/td><td class="num">0\.969<\/td><td class="num">96\.9%<\/td>/);
    // a latency evaluator's figures are milliseconds
    assert.match(html, /<tr><th>triage_latency<\/th><td>latency<\/td><td class="num">9 ms<\/td><td class="num">100%<\/td>.*?<td class="num">64<\/td><td class="num">0<\/td><td class="num">8\.00 s<\/td><\/tr>/);
  });
  it("pass-rate chart on a fixed 0–100 scale", () => {
    const chart = html.slice(html.indexOf('<svg class="chart pass-rate"'), html.indexOf("</svg>", html.indexOf('<svg class="chart pass-rate"')));
    const widths = [...chart.matchAll(/<rect class="bar" x="\d+" y="\d+" width="(\d+)"/g)].map((m) => Number(m[1]));
    assert.deepEqual(widths, [310, 310, 320]);
  });
  it("confusion matrix of the classification evaluator", () => {
    assert.ok(html.includes("<h3>triage_classes: confusion matrix</h3>"));
    assert.match(html, /<tr><th>new<\/th><td class="num">1<\/td><td class="num diagonal">10<\/td><\/tr>/);
  });
  it("the run summary object gets its own section", () => {
    assert.ok(html.includes("<h2>Run summary</h2>"));
    assert.match(html, /<tr><th>latency_p95_ms<\/th><td>15 ms<\/td><\/tr>/);
    assert.match(html, /<tr><th>cost_per_row<\/th><td>\$0\.00040<\/td><\/tr>/);
  });
  it("rows show one column per evaluator and mark rows with a failed score", () => {
    assert.ok(html.includes("<th>scores.category_match</th>"));
    // line, then category_match's score, then the latency evaluator's milliseconds
    assert.match(html, /<tr class="row failed" data-row="1"><td class="num">2<\/td><td>1<\/td><td>0<\/td><td>9 ms<\/td><\/tr>/);
    assert.match(html, /<tr class="row" data-row="0">/);
  });
});

describe("estimate page", () => {
  const estimate = {
    target: "/w/log-triage/flow.dag.yaml",
    rows: 1,
    nodes: [{ node: "classify", model: "gpt-4o-mini", inputTokens: 375, failedRows: [] }, { node: "rewrite_for_business", model: "gpt-4o-mini", inputTokens: 310, failedRows: [] }],
    total: { inputTokens: 904, outputTokens: { upperBound: 1050, expected: 214.4 }, cost: { expected: 0.000264225, upperBound: 0.0007656 } },
  };
  const html = renderResultsHtml({ kind: "estimate", title: "Estimate", data: estimate }, security);
  it("totals flatten into their own section, costs as dollars", () => {
    assert.ok(html.includes("<h2>Total</h2>"));
    assert.ok(html.includes("<tr><th>cost.upperBound</th><td>$0.00077</td></tr>"));
    assert.ok(html.includes("<tr><th>outputTokens.upperBound</th><td>1,050</td></tr>"));
  });
  it("one row per node", () => {
    assert.ok(html.includes("<h2>Nodes (2)</h2>"));
    assert.match(html, /<tr class="row" data-row="0"><td class="num">1<\/td><td>classify<\/td><td>gpt-4o-mini<\/td><td>375<\/td><\/tr>/);
  });
  it("flattenScalars refuses lists and deep nesting", () => {
    assert.equal(flattenScalars({ a: [1] }), undefined);
    assert.equal(flattenScalars({ a: { b: { c: 1 } } }), undefined);
    assert.deepEqual(flattenScalars({ a: 1, b: { c: "x" } }), { a: 1, "b.c": "x" });
  });
});

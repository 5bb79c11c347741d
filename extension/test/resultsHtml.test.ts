import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { barChart, contentSecurityPolicy, escapeHtml, findRows, numericMetrics, renderResultsHtml } from "../src/resultsHtml";

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

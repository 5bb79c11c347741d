import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  barChart,
  contentSecurityPolicy,
  escapeHtml,
  evaluationRowFailed,
  findRows,
  flattenScalars,
  isEvaluationRows,
  numericMetrics,
  renderResultsHtml,
} from "../src/resultsHtml";

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
    assert.ok(html.includes("<th>outputs</th><th>category_match</th><th>triage_latency</th><th>verdict</th>"));
    const failed = rowHtml(html, 1);
    assert.match(failed, /^<tr class="row eval-row failed" data-row="1"/);
    // row number, category_match's failing score with its reason, the latency evaluator's milliseconds
    assert.match(failed, /<td class="num">1<\/td>/);
    assert.match(failed, /<td class="score fail" title="category_match: fail — expected new">✗ 0<div class="reason">expected new<\/div><\/td>/);
    assert.match(failed, /<td class="score pass" title="triage_latency: pass">✓ 9 ms<\/td>/);
    assert.match(rowHtml(html, 0), /^<tr class="row eval-row" data-row="0"/);
  });
});

/** The table row `data-row=index` of the rows table, without its drill-down row. */
function rowHtml(html: string, index: number): string {
  const start = html.indexOf(`<tr class="row eval-row`, html.indexOf(`data-row="${index}"`) - 40);
  return html.slice(start, html.indexOf("</tr>", start) + 5);
}

describe("evaluation drill-down in the server's shape (promptwise.evaluate / promptwise.showRun)", () => {
  const evaluators = [
    { name: "correct", type: "exact_match", threshold: 1 },
    { name: "fluent", type: "fluency", threshold: 4 },
  ];
  const row = (line: number, answer: string, correct: boolean, fluent: object, extra: object = {}) => ({
    line,
    data_line: line + 1,
    status: "completed",
    error: null,
    passed: correct && (fluent as { passed?: boolean }).passed === true,
    inputs: { question: `What is the capital of country ${line}?` },
    data: { expected: "Paris" },
    outputs: { answer },
    latency_ms: 42,
    cost: 0.00001,
    scores: {
      correct: { value: correct ? 1 : 0, passed: correct, reason: correct ? "" : `'${answer}' differs from 'Paris'`, error: null, details: {} },
      fluent,
    },
    ...extra,
  });
  const data = {
    run: "cities",
    evaluation: "cities.eval1",
    evaluators,
    metrics: {
      correct: { type: "exact_match", mean: 0.5, pass_rate: 0.5, passed: 1, failed: 1, threshold: 1 },
      fluent: { type: "fluency", mean: 5, pass_rate: 0.5, passed: 1, failed: 0, threshold: 4, errors: 1 },
    },
    summary: { rows: 1200, latency_p95_ms: 50 },
    rows: [
      row(0, "Paris", true, { value: 5, passed: true, reason: "Fluent.", error: null, details: {} }),
      row(1, "<b>Lyon</b>", false, { value: null, passed: null, reason: "", error: "unreadable judge answer", details: { raw: "I cannot rate this." } }),
      {
        ...row(2, "", false, { value: null, passed: null, reason: "", error: "the flow failed on this row: 429", details: {} }),
        status: "failed",
        error: "429 Too Many Requests",
        outputs: null,
      },
    ],
    rows_total: 1200,
    rows_shown: 3,
    rows_truncated: true,
  };
  const html = renderResultsHtml({ kind: "details", title: "Run cities", data }, security);

  it("is recognised by its scores", () => {
    assert.equal(isEvaluationRows(data.rows), true);
    assert.equal(isEvaluationRows([{ line: 0, status: "completed" }]), false);
  });
  it("has the metrics table too", () => {
    assert.match(html, /<tr><th>correct<\/th><td>exact_match<\/td><td class="num">0\.500<\/td><td class="num">50\.0%<\/td>/);
  });
  it("a table of rows: row number, data line, inputs, outputs, each evaluator, verdict", () => {
    assert.ok(html.includes("<tr><th>row</th><th>data line</th><th>inputs</th><th>outputs</th><th>correct</th><th>fluent</th><th>verdict</th></tr>"));
    const first = rowHtml(html, 0);
    assert.match(first, /<td class="num">0<\/td><td class="num">1<\/td><td>question: What is the capital of country 0\?<\/td><td>answer: Paris<\/td>/);
    assert.match(first, /<td class="verdict">✓ passed<\/td>/);
  });
  it("marks failed rows: a score below threshold, a score that could not be computed, a row the flow failed", () => {
    assert.equal(evaluationRowFailed(data.rows[0]), false);
    assert.equal(evaluationRowFailed(data.rows[1]), true);
    assert.equal(evaluationRowFailed({ scores: { a: { value: null, error: "x" } } }), true);
    assert.match(rowHtml(html, 1), /^<tr class="row eval-row failed"/);
    assert.match(rowHtml(html, 1), /<td class="score error" title="fluent: error — unreadable judge answer">⚠ –/);
    assert.match(rowHtml(html, 2), /<td>failed: 429 Too Many Requests<\/td>/);
    assert.match(html, /only failed rows \(2\)/);
  });
  it("each row has a <details> drill-down with inputs, data columns, outputs and every score's reason", () => {
    const drills = html.match(/<details class="row-details" data-row="\d+"><summary>[^<]*<\/summary>/g) ?? [];
    assert.deepEqual(drills.map((d) => d.replace(/<[^>]+>/g, "")), [
      "row 0 (data line 1): details",
      "row 1 (data line 2): failed (correct, fluent)",
      "row 2 (data line 3): failed (correct, fluent)",
    ]);
    const second = html.slice(html.indexOf('<details class="row-details" data-row="1">'), html.indexOf('<details class="row-details" data-row="2">'));
    assert.ok(second.includes("<h4>Inputs</h4>") && second.includes("<h4>Data columns</h4>") && second.includes("<h4>Outputs</h4>"));
    assert.ok(second.includes("<tr><th>expected</th><td><pre class=\"text\">Paris</pre></td></tr>"));
    assert.match(second, /<tr class="fail"><th>correct<\/th><td class="num">0<\/td><td class="verdict fail">✗ fail<\/td><td>&#39;&lt;b&gt;Lyon&lt;\/b&gt;&#39; differs from &#39;Paris&#39;<\/td><\/tr>/);
    assert.match(second, /<td class="verdict error">⚠ error<\/td><td>error: unreadable judge answer<details class="score-details"><summary>details<\/summary><pre class="json">[^<]*I cannot rate this\./);
    assert.ok(!second.includes("<b>Lyon</b>"), "outputs are escaped");
    const third = html.slice(html.indexOf('<details class="row-details" data-row="2">'));
    assert.ok(third.includes('<h4>Run error</h4><pre class="error">429 Too Many Requests</pre>'));
    assert.ok(third.includes('<p class="empty">no outputs</p>'));
  });
  it("says when the server sent only the first rows", () => {
    assert.ok(html.includes("<h2>Rows (3 of 1,200)</h2>"));
    assert.match(html, /Showing the first 3 of 1,200 rows; all of them are in the run store \(<code>promptwise runs export cities<\/code>\)/);
    assert.ok(!html.includes("<th>rows_truncated</th>"), "the row counts are stated once, in the rows section");
    const whole = renderResultsHtml({ kind: "evaluation", title: "e", data: { ...data, rows_total: 3, rows_truncated: false } }, security);
    assert.ok(whole.includes("<h2>Rows (3)</h2>") && !whole.includes("Showing the first"));
  });
  it("rows open without inline handlers: the nonce'd script listens, <details> works without it", () => {
    assert.doesNotMatch(html, /\son[a-z]+="/);
    assert.match(html, /<script nonce="abc123nonce">[^]*addEventListener\("click"/);
    assert.match(html, /<tr class="row eval-row[^"]*" data-row="0" tabindex="0"/);
  });
  it("shows at most 500 rows even when sent more", () => {
    const many = Array.from({ length: 520 }, (_, i) => row(i, "Paris", true, { value: 5, passed: true, reason: "", error: null, details: {} }));
    const page = renderResultsHtml({ kind: "evaluation", title: "e", data: { evaluators, rows: many } }, security);
    assert.equal((page.match(/<details class="row-details"/g) ?? []).length, 500);
    assert.ok(page.includes("<h2>Rows (500 of 520)</h2>"));
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

describe("Compare Models page", () => {
  // The shape `promptwise eval --models --format json` prints (commands/model_compare.py).
  const comparison = {
    node: null, primary_metric: "category_match.pass_rate", higher_is_better: true, margin: 0.02,
    models: [
      {
        model: "gpt-4o-mini", run: "triage_1", evaluation: "triage_1.eval1",
        metrics: { "category_match.pass_rate": 0.96875, "triage_classes.accuracy": 0.9, "summary_fluency.mean": 4.25 },
        primary: 0.96875, cost_per_row: 0.000221114, latency_p50_ms: 899, latency_p95_ms: 1265.9, rows_failed: 0, eval_errors: 0,
        error: null, estimate: { cost_expected: null, cost_upper: 0.0472383 },
      },
      {
        model: "gpt-4.1-mini", run: "triage_2", evaluation: "triage_2.eval1",
        metrics: { "category_match.pass_rate": 0.96875, "triage_classes.accuracy": 0.95, "summary_fluency.mean": 4.5 },
        primary: 0.96875, cost_per_row: 0.000589638, latency_p50_ms: 846.9, latency_p95_ms: 1197.9, rows_failed: 2, eval_errors: 1,
        error: null, estimate: { cost_expected: 0.1, cost_upper: 0.125969 },
      },
      {
        model: "<gpt-x>", run: null, evaluation: null, metrics: {}, primary: null, cost_per_row: null, latency_p50_ms: null,
        latency_p95_ms: null, rows_failed: null, eval_errors: null, error: "HTTP 404: model <gpt-x> not found",
        estimate: { cost_expected: null, cost_upper: 0.3 },
      },
    ],
    recommendation: { model: "gpt-4o-mini", reason: "the cheapest of the models within 0.02 of the best primary metric (0.9688)" },
  };
  const html = renderResultsHtml({ kind: "models", title: "Models compared · log-triage/flow.dag.yaml", data: comparison }, security);
  const table = html.slice(html.indexOf('<table class="models">'), html.indexOf("</table>", html.indexOf('<table class="models">')));
  const row = (model: string) => {
    const start = table.indexOf(`data-model="${escapeHtml(model)}"`);
    return table.slice(start, table.indexOf("</tr>", start));
  };

  it("leads with the recommendation and its reason", () => {
    assert.match(html, /<section class="recommendation"><h2>Recommendation<\/h2><p class="recommended-model">Recommended: <strong>gpt-4o-mini<\/strong>/);
    assert.ok(html.indexOf("Recommendation") < html.indexOf('<table class="models">'));
    assert.ok(html.includes("within 0.02 of the best primary metric (0.9688)"));
    assert.match(html, /<code>category_match\.pass_rate<\/code> \(higher is better\) · margin 0\.02 · the model replaced in every llm node/);
  });
  it("has one row per model with quality, cost per row, latency p50/p95, errors, estimate and run", () => {
    // What decides first, then the other evaluators' figures.
    assert.match(table, /<th>model<\/th><th>category_match\.pass_rate \(primary\)<\/th><th>cost\/row<\/th><th>latency p50<\/th><th>latency p95<\/th><th>rows failed<\/th><th>eval errors<\/th><th>triage_classes\.accuracy<\/th><th>summary_fluency\.mean<\/th><th>estimate \(whole data\)<\/th><th>run<\/th>/);
    const cells = (model: string) => [...row(model).matchAll(/<td class="num[^"]*">([^<]*)<\/td>/g)].map((m) => m[1]);
    assert.deepEqual(cells("gpt-4o-mini"), ["96.9%", "$0.00022", "899 ms", "1.27 s", "0", "0", "90.0%", "4.25", "≤ $0.047"]);
    assert.deepEqual(cells("gpt-4.1-mini"), ["96.9%", "$0.00059", "847 ms", "1.20 s", "2", "1", "95.0%", "4.50", "≈ $0.10 · ≤ $0.13"]);
    assert.match(row("gpt-4.1-mini"), /<td class="num failures">2<\/td>/);
    assert.match(row("gpt-4o-mini"), /<button class="show-run" data-run="triage_1">triage_1<\/button>/);
  });
  it("marks the recommended row, and only that one", () => {
    assert.match(row("gpt-4o-mini"), /^data-model="gpt-4o-mini">|class="model recommended"/);
    assert.equal((table.match(/class="model recommended"/g) ?? []).length, 1);
    assert.ok(table.includes('<tr class="model recommended" data-model="gpt-4o-mini"><th class="model-name">gpt-4o-mini <span class="badge">recommended</span>'));
  });
  it("shows a model that could not be run with its reason, escaped", () => {
    assert.ok(table.includes('<tr class="model failed" data-model="&lt;gpt-x&gt;"><th class="model-name">&lt;gpt-x&gt;</th><td class="error" colspan="10">not evaluated: HTTP 404: model &lt;gpt-x&gt; not found</td></tr>'));
    assert.ok(!html.includes("<gpt-x>"));
  });
  it("charts the primary metric and the cost per row, and offers the runs row by row", () => {
    assert.match(html, /<svg class="chart primary-metric"[^>]*>.*>96\.9%<\/text>/);
    assert.match(html, /<svg class="chart cost-per-row"[^>]*>.*\$0\.00059<\/text>/);
    assert.ok(html.includes(`<button class="compare-runs" data-runs="${escapeHtml(JSON.stringify(["triage_1", "triage_2"]))}">`));
    assert.ok(!html.includes('class="show-trace"'), "the page of several runs has no single trace");
  });
  it("says so when nothing is recommended", () => {
    const none = renderResultsHtml({ kind: "models", title: "t", data: { ...comparison, recommendation: { model: null, reason: "no model has a primary metric" } } }, security);
    assert.match(none, /<p class="recommended-model none">No recommendation<\/p><p class="reason">no model has a primary metric<\/p>/);
    assert.ok(!none.includes("class=\"model recommended\""));
  });
  it("keeps to the page's content security policy", () => {
    assert.doesNotMatch(html, /\sstyle="/);
    assert.doesNotMatch(html, /\son[a-z]+="/);
    assert.equal((html.match(/<script\b/g) ?? []).length, 1);
  });
});

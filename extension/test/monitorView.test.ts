import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { alertText, firingAlerts, MONITOR_CSP, safeMonitorHtml, type MonitorAlert } from "../src/monitorView";

const page = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src *; script-src 'unsafe-inline'">
<title>m</title></head><body><h1>m</h1><script>alert(1)</script><svg role="img"></svg></body></html>`;

describe("safeMonitorHtml", () => {
  it("replaces any CSP by the strict one, first in head, and drops scripts", () => {
    const html = safeMonitorHtml(page);
    assert.equal(html.match(/Content-Security-Policy/g)?.length, 1);
    assert.ok(html.includes(`<head><meta http-equiv="Content-Security-Policy" content="${MONITOR_CSP}">`));
    assert.ok(!html.includes("default-src *"));
    assert.ok(html.includes("<style>html,body{background:#fff;color:#222}</style>"));
    assert.ok(!/<script/i.test(html));
    assert.ok(html.includes(`<svg role="img"></svg>`));
  });

  it("wraps a fragment without a head in a page with the CSP", () => {
    const html = safeMonitorHtml("<p>No traffic in this window.</p>");
    assert.ok(html.startsWith(`<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="${MONITOR_CSP}">`));
    assert.ok(html.includes("<body><p>No traffic in this window.</p></body>"));
  });
});

describe("alerts", () => {
  const alert = (rule: string, firing: boolean, trace: string | null = null): MonitorAlert => ({
    rule,
    firing,
    message: `${firing ? "FIRING  " : "ok      "}${rule}: error_rate 30.0% is above 20.0% (flow triage, last 1h, 4 requests)${trace ? `; traces: ${trace} (promptwise traces show ID)` : ""}`,
    trace_id: trace,
  });

  it("notifies only firing rules, each once", () => {
    const firing = firingAlerts([alert("slow", false), alert("errors", true, "abc"), alert("errors", true, "abc"), alert("budget", true)]);
    assert.deepEqual(firing.map((a) => a.rule), ["errors", "budget"]);
    assert.deepEqual(firingAlerts(undefined), []);
  });

  it("says the rule without the padding or the trace list", () => {
    assert.equal(alertText(alert("errors", true, "abc")), "errors: error_rate 30.0% is above 20.0% (flow triage, last 1h, 4 requests)");
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ALERT_CHECK_DEFAULT_SECONDS,
  alertCheckMs,
  alertText,
  firingAlerts,
  MONITOR_CSP,
  newlyFiring,
  safeMonitorHtml,
  traceIdFromUri,
  type MonitorAlert,
} from "../src/monitorView";

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

describe("the periodic alert check", () => {
  const alert = (rule: string, firing: boolean): MonitorAlert => ({ rule, firing, message: `FIRING  ${rule}: x`, trace_id: null });

  it("notifies a rule when it starts firing, not while it keeps firing, and again after it cleared", () => {
    let state = newlyFiring(new Set(), [alert("errors", true), alert("slow", false)]);
    assert.deepEqual(state.notify.map((a) => a.rule), ["errors"]);
    state = newlyFiring(state.firing, [alert("errors", true), alert("slow", true)]);
    assert.deepEqual(state.notify.map((a) => a.rule), ["slow"]);
    state = newlyFiring(state.firing, [alert("errors", false), alert("slow", true)]);
    assert.deepEqual(state.notify, []);
    assert.deepEqual([...state.firing], ["slow"]);
    state = newlyFiring(state.firing, [alert("errors", true), alert("slow", true)]);
    assert.deepEqual(state.notify.map((a) => a.rule), ["errors"]);
  });

  it("checks every 300 s by default, never below 30 s, and not at all for 0", () => {
    assert.equal(alertCheckMs(undefined), ALERT_CHECK_DEFAULT_SECONDS * 1000);
    assert.equal(alertCheckMs(5), 30_000);
    assert.equal(alertCheckMs(600), 600_000);
    assert.equal(alertCheckMs(0), undefined);
    assert.equal(alertCheckMs("often"), ALERT_CHECK_DEFAULT_SECONDS * 1000);
  });
});

describe("trace links", () => {
  it("reads the trace id of vscode://promptwise.promptwise/trace?id=ID and nothing else", () => {
    const id = "0123456789abcdef0123456789abcdef";
    assert.equal(traceIdFromUri("/trace", `id=${id}`), id);
    assert.equal(traceIdFromUri("/trace/", `id=${id.toUpperCase()}`), id);
    assert.equal(traceIdFromUri("/trace", "id=../../etc"), undefined);
    assert.equal(traceIdFromUri("/run", `id=${id}`), undefined);
    assert.equal(traceIdFromUri("/trace", ""), undefined);
  });
});

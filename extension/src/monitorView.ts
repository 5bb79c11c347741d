// The Monitor view's pure parts (no vscode import, so unit tests run under node --test): the
// server's answer to `promptwise.monitorView`, the page made safe for a webview, which alerts
// become notifications (also from the periodic `promptwise.alerts` check), and trace links.

export interface MonitorAlert {
  rule: string;
  firing: boolean;
  message: string;
  trace_id: string | null;
}

export interface MonitorAnswer {
  status: "ok" | "error";
  error?: string;
  html?: string;
  flow?: string | null;
  since?: string;
  alerts?: MonitorAlert[];
}

/** The page loads nothing and runs nothing: only inline styles and data: images. */
export const MONITOR_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const PAPER = "<style>html,body{background:#fff;color:#222}</style>";

const CSP_META = /<meta\s+http-equiv=["']Content-Security-Policy["'][^>]*>/gi;

/**
 * The server's page with our CSP whatever it carried: any CSP meta is replaced by ours, put
 * first in <head>, and scripts are dropped (the page has none; a page that had one would not run
 * it anyway under this CSP, but the webview also runs with scripts off).
 */
export function safeMonitorHtml(html: string): string {
  // The page is drawn dark on light (its SVG text has no theme colours): keep it on paper in a
  // dark theme too.
  const meta = `<meta http-equiv="Content-Security-Policy" content="${MONITOR_CSP}">${PAPER}`;
  let page = html.replace(CSP_META, "").replace(/<script\b[\s\S]*?<\/script\s*>/gi, "");
  if (/<head[^>]*>/i.test(page)) page = page.replace(/<head([^>]*)>/i, `<head$1>${meta}`);
  else page = `<!DOCTYPE html><html><head>${meta}</head><body>${page}</body></html>`;
  return page;
}

/** The firing alerts, each once: what becomes a notification (rules that are fine stay quiet). */
export function firingAlerts(alerts: readonly MonitorAlert[] | undefined): MonitorAlert[] {
  const seen = new Set<string>();
  return (alerts ?? []).filter((alert) => {
    if (!alert || !alert.firing || seen.has(alert.rule)) return false;
    seen.add(alert.rule);
    return true;
  });
}

/** "FIRING  errors: error_rate 30% ..." without the column padding, for a notification. */
export function alertText(alert: MonitorAlert): string {
  return alert.message.replace(/^FIRING\s+/, "").replace(/; traces: .*$/, "");
}

/** The server's answer to `promptwise.alerts` (the periodic check). */
export interface AlertsAnswer {
  status: "ok" | "error";
  error?: string;
  rules?: number;
  alerts?: MonitorAlert[];
}

/**
 * Of the alerts firing now, those to notify: the ones not already notified since they started
 * firing. `firing` is what to remember for the next check; a rule that clears and fires again
 * is notified again.
 */
export function newlyFiring(
  notified: ReadonlySet<string>,
  alerts: readonly MonitorAlert[] | undefined,
): { notify: MonitorAlert[]; firing: Set<string> } {
  const now = firingAlerts(alerts);
  return { notify: now.filter((alert) => !notified.has(alert.rule)), firing: new Set(now.map((alert) => alert.rule)) };
}

export const ALERT_CHECK_DEFAULT_SECONDS = 300;
const ALERT_CHECK_MIN_SECONDS = 30;

/** The check's period from `promptwise.monitor.alertCheckSeconds`: off for 0 or less, at least 30 s. */
export function alertCheckMs(seconds: unknown): number | undefined {
  const value = typeof seconds === "number" && Number.isFinite(seconds) ? seconds : ALERT_CHECK_DEFAULT_SECONDS;
  if (value <= 0) return undefined;
  return Math.max(ALERT_CHECK_MIN_SECONDS, value) * 1000;
}

/**
 * The trace id of a `vscode://promptwise.promptwise/trace?id=ID` link (what `alerts_trace_url`
 * makes of an alert's example traces), or undefined for any other link.
 */
export function traceIdFromUri(path: string, query: string): string | undefined {
  if (path.replace(/\/+$/, "") !== "/trace") return undefined;
  const id = new URLSearchParams(query).get("id")?.trim().toLowerCase();
  return id && /^[0-9a-f]{32}$/.test(id) ? id : undefined;
}

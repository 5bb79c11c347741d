// The Monitor view's pure parts (no vscode import, so unit tests run under node --test): the
// server's answer to `promptwise.monitorView`, the page made safe for a webview, and which
// alerts become notifications.

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

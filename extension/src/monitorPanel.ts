// The Monitor view (issue 12 part 6): `promptwise.showMonitor` asks the server for the monitor
// page of a flow (or of the workspace) and shows it in a webview with scripts off and a strict
// CSP; the alert rules that fire become notifications whose "Open Trace" shows the offending
// trace (promptwise.showTrace). AlertWatcher asks the server every few minutes
// (`promptwise.monitor.alertCheckSeconds`) for the rules that fire and notifies each as it starts.
import * as vscode from "vscode";
import { isFlowFile, lensArguments } from "./protocol";
import {
  alertCheckMs,
  alertText,
  firingAlerts,
  newlyFiring,
  safeMonitorHtml,
  type AlertsAnswer,
  type MonitorAlert,
  type MonitorAnswer,
} from "./monitorView";
import type { PromptwiseServer } from "./serverClient";

export const SHOW_MONITOR = "promptwise.showMonitor";
const MONITOR_VIEW = "promptwise.monitorView";
const ALERTS = "promptwise.alerts";
const FIRST_CHECK_MS = 30_000; // after activation: let the server start first
export const SETTING_CHANGE_CHECK_MS = 1_000; // after the setting changed: the server is up
const SINCE_CHOICES = ["1h", "24h", "7d", "30d"];

export class MonitorPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;

  constructor(private readonly server: PromptwiseServer) {}

  /** `arg`: a flow's Uri or {uri, since?}; none: the active flow file, else the whole workspace. */
  async show(arg: unknown): Promise<MonitorAnswer | undefined> {
    const lens = lensArguments(arg);
    let uri = arg instanceof vscode.Uri ? arg.toString() : typeof lens?.uri === "string" ? lens.uri : undefined;
    if (!uri) {
      const active = vscode.window.activeTextEditor?.document;
      if (active && isFlowFile(active.uri.fsPath)) uri = active.uri.toString();
    }
    const since = typeof lens?.since === "string" && SINCE_CHOICES.includes(lens.since) ? lens.since : "24h";
    let answer: MonitorAnswer | undefined;
    try {
      answer = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: "Promptwise: computing the monitor" },
        () => this.server.executeCommand<MonitorAnswer>(MONITOR_VIEW, uri ? { uri, since } : { since }),
      );
    } catch (error) {
      this.server.log.error(`${MONITOR_VIEW}: ${String(error)}`);
      void vscode.window.showErrorMessage(`Promptwise: the monitor could not be computed: ${String((error as Error)?.message ?? error)}`);
      return undefined;
    }
    if (!answer || answer.status !== "ok" || typeof answer.html !== "string") {
      void vscode.window.showWarningMessage(`Promptwise: ${answer?.error ?? "the server returned no monitor page"}`);
      return answer;
    }
    const title = `Monitor · ${answer.flow ?? "all flows"} · ${answer.since ?? since}`;
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel("promptwise.monitor", title, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
        enableScripts: false,
        localResourceRoots: [],
      });
      this.panel.onDidDispose(() => (this.panel = undefined));
    }
    this.panel.title = title;
    this.panel.webview.html = safeMonitorHtml(answer.html);
    this.panel.reveal(undefined, true);
    this.notify(answer, uri);
    return answer;
  }

  private notify(answer: MonitorAnswer, uri: string | undefined): void {
    for (const alert of firingAlerts(answer.alerts)) notifyAlert(alert, uri);
  }

  dispose(): void {
    this.panel?.dispose();
  }
}

/** One alert as a warning: "Open Trace" shows its example trace, "Show Monitor" the figures. */
export function notifyAlert(alert: MonitorAlert, uri: string | undefined): void {
  const actions = alert.trace_id ? ["Open Trace", "Show Monitor"] : ["Show Monitor"];
  void vscode.window.showWarningMessage(`Promptwise alert: ${alertText(alert)}`, ...actions).then((choice) => {
    if (choice === "Open Trace" && alert.trace_id) {
      void vscode.commands.executeCommand("promptwise.showTrace", { trace_id: alert.trace_id, ...(uri ? { uri } : {}) });
    } else if (choice === "Show Monitor") {
      void vscode.commands.executeCommand(SHOW_MONITOR, uri ? { uri } : undefined);
    }
  });
}

/** Checks the workspace's alert rules every few minutes and notifies each rule as it starts firing. */
export class AlertWatcher implements vscode.Disposable {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private notified = new Set<string>();
  private disposed = false;

  constructor(private readonly server: PromptwiseServer) {}

  /**
   * (Re)starts the checks with the current setting; off when it is 0. The first check comes
   * after `firstMs` (at activation: once the server had time to start; after a setting
   * change: soon, so a user who turns the checks on sees what fires right away).
   */
  start(firstMs = FIRST_CHECK_MS): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const every = alertCheckMs(vscode.workspace.getConfiguration("promptwise").get<number>("monitor.alertCheckSeconds"));
    if (every === undefined || this.disposed) return;
    const tick = async (): Promise<void> => {
      await this.check();
      if (!this.disposed) this.timer = setTimeout(() => void tick(), every);
    };
    this.timer = setTimeout(() => void tick(), Math.min(every, firstMs));
  }

  /** One check: the alerts notified now (those that started firing since the last check). */
  async check(): Promise<MonitorAlert[]> {
    let answer: AlertsAnswer | undefined;
    try {
      answer = await this.server.executeCommand<AlertsAnswer>(ALERTS, {});
    } catch (error) {
      this.server.log.debug(`${ALERTS}: ${String(error)}`); // the server is (re)starting: next time
      return [];
    }
    if (!answer || answer.status !== "ok") {
      if (answer?.error) this.server.log.warn(`${ALERTS}: ${answer.error}`);
      return [];
    }
    const { notify, firing } = newlyFiring(this.notified, answer.alerts);
    this.notified = firing;
    for (const alert of notify) notifyAlert(alert, undefined);
    return notify;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

export function registerMonitorCommands(context: vscode.ExtensionContext, panel: MonitorPanel): void {
  context.subscriptions.push(vscode.commands.registerCommand(SHOW_MONITOR, (arg) => panel.show(arg)));
}

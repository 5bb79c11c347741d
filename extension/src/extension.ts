// Entry point: wires the server, the commands, the status bar and the results panel.
import * as vscode from "vscode";
import { registerCommands } from "./commands";
import { DeploymentsView, registerDeploymentCommands } from "./deployView";
import { AlertWatcher, MonitorPanel, registerMonitorCommands, SETTING_CHANGE_CHECK_MS } from "./monitorPanel";
import { traceIdFromUri } from "./monitorView";
import { onActivePythonInterpreterChanged } from "./pythonExtension";
import { ResultsPanel } from "./resultsPanel";
import { registerServeCommands, ServeSession } from "./serveSession";
import { PromptwiseServer } from "./serverClient";
import { PromptwiseStatusBar } from "./statusBar";
import { registerTraceCommands, TracePanel, watchTraceStores } from "./tracePanel";

/** Settings the server is started with; changing one restarts it. */
const RESTART_SETTINGS = ["promptwise.python", "promptwise.defaultModel", "promptwise.catalogFile"];

let server: PromptwiseServer | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel("Promptwise", { log: true });
  server = new PromptwiseServer(log);
  const panel = new ResultsPanel();
  context.subscriptions.push(log, server, panel, new PromptwiseStatusBar(server));
  // Commands first and synchronously, so a palette command that activated us finds its handler.
  registerCommands(context, server, panel);
  // The trace view and "Serve Flow Locally" (issue 10); the served process dies with us.
  const traces = new TracePanel(server);
  const serving = new ServeSession(server, context.workspaceState);
  context.subscriptions.push(traces, serving);
  registerTraceCommands(context, traces);
  registerServeCommands(context, serving);
  // New traces from anywhere (a served request, a terminal's `promptwise run`): "last run" lenses anew.
  context.subscriptions.push(watchTraceStores(server));
  // The Monitor view (issue 12): figures per version, drift, alerts that open their trace.
  const monitor = new MonitorPanel(server);
  context.subscriptions.push(monitor);
  registerMonitorCommands(context, monitor);
  // Alerts as notifications while the editor is open, and vscode://promptwise.promptwise/trace?id=ID
  // links (an alert's example traces with alerts_trace_url) opening the trace.
  const alertWatcher = new AlertWatcher(server);
  context.subscriptions.push(
    alertWatcher,
    vscode.window.registerUriHandler({
      handleUri(uri: vscode.Uri): void {
        const traceId = traceIdFromUri(uri.path, uri.query);
        if (traceId) void vscode.commands.executeCommand("promptwise.showTrace", { trace_id: traceId });
        else void vscode.window.showWarningMessage(`Promptwise: ${uri.toString()} is not a trace link (vscode://promptwise.promptwise/trace?id=TRACE_ID)`);
      },
    }),
  );
  alertWatcher.start();
  // The Deployments view (issue 11): versions, where they run, weights; promote, shift, roll back, deploy.
  const deployments = new DeploymentsView(server);
  context.subscriptions.push(deployments);
  registerDeploymentCommands(context, deployments);

  const running = server;
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("promptwise.monitor.alertCheckSeconds")) alertWatcher.start(SETTING_CHANGE_CHECK_MS);
      if (RESTART_SETTINGS.some((setting) => event.affectsConfiguration(setting))) {
        log.info("Settings changed; restarting the server.");
        void running.restart();
      }
    }),
  );
  void onActivePythonInterpreterChanged(() => {
    if (!vscode.workspace.getConfiguration("promptwise").get<string>("python")) {
      log.info("The Python extension's interpreter changed; restarting the server.");
      void running.restart();
    }
  }).then((disposable) => disposable && context.subscriptions.push(disposable));

  void server.start();
}

export async function deactivate(): Promise<void> {
  await server?.stop();
}

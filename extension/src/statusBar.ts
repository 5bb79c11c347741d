// Status bar items: the server's state, and the active document's tokens and cost per call
// (from the server's `promptwise/documentTotals` request).
import * as vscode from "vscode";
import { statusBarText, statusBarTooltip } from "./format";
import { ClientCommand, DOCUMENT_TOTALS_REQUEST, hasDocumentTotals, ServerCommand, type DocumentTotals } from "./protocol";
import type { PromptwiseServer, ServerState } from "./serverClient";

const REFRESH_DELAY_MS = 400;

export class PromptwiseStatusBar implements vscode.Disposable {
  private readonly totalsItem = vscode.window.createStatusBarItem("promptwise.totals", vscode.StatusBarAlignment.Right, 100);
  private readonly serverItem = vscode.window.createStatusBarItem("promptwise.server", vscode.StatusBarAlignment.Right, 99);
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: vscode.CancellationTokenSource | undefined;

  constructor(private readonly server: PromptwiseServer) {
    this.totalsItem.name = "Promptwise tokens and cost";
    this.totalsItem.command = ServerCommand.estimateCost;
    this.serverItem.name = "Promptwise server";
    this.serverItem.command = ClientCommand.showLog;
    this.disposables.push(
      server.onDidChangeState((state) => {
        this.showServerState(state);
        this.schedule();
      }),
      vscode.window.onDidChangeActiveTextEditor(() => this.schedule()),
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.document === vscode.window.activeTextEditor?.document) this.schedule();
      }),
      vscode.workspace.onDidSaveTextDocument(() => this.schedule()),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration("promptwise.statusBar.enabled")) this.schedule();
      }),
    );
    this.showServerState(server.state);
    this.schedule();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.inFlight?.cancel();
    this.totalsItem.dispose();
    this.serverItem.dispose();
    this.disposables.forEach((d) => d.dispose());
  }

  private showServerState(state: ServerState): void {
    const version = this.server.version ? ` ${this.server.version}` : "";
    const texts: Record<ServerState, [string, string]> = {
      starting: ["$(sync~spin) Promptwise", "Promptwise server starting"],
      running: ["$(pass) Promptwise", `Promptwise server${version} running (${this.server.interpreter?.command ?? "python"})`],
      failed: ["$(error) Promptwise", "Promptwise server not running: click for its log"],
      stopped: ["$(circle-slash) Promptwise", "Promptwise server stopped"],
    };
    const [text, label] = texts[state];
    this.serverItem.text = text;
    this.serverItem.tooltip = label;
    this.serverItem.accessibilityInformation = { label };
    this.serverItem.backgroundColor = state === "failed" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
    this.serverItem.show();
  }

  /** Debounced: typing asks the server at most once per pause. */
  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), REFRESH_DELAY_MS);
  }

  private async refresh(): Promise<void> {
    const document = vscode.window.activeTextEditor?.document;
    const enabled = vscode.workspace.getConfiguration("promptwise").get<boolean>("statusBar.enabled", true);
    if (!enabled || !document || !hasDocumentTotals(document.uri.fsPath) || this.server.state !== "running") {
      this.totalsItem.hide();
      return;
    }
    this.inFlight?.cancel();
    const cancel = (this.inFlight = new vscode.CancellationTokenSource());
    try {
      const totals = await this.server.request<DocumentTotals | null>(DOCUMENT_TOTALS_REQUEST, { uri: document.uri.toString() }, cancel.token);
      if (cancel.token.isCancellationRequested) return;
      if (!totals || typeof totals.inputTokens !== "number") {
        this.totalsItem.hide();
        return;
      }
      this.totalsItem.text = statusBarText(totals);
      const tooltip = statusBarTooltip(totals);
      this.totalsItem.tooltip = tooltip;
      this.totalsItem.accessibilityInformation = { label: `Promptwise: ${tooltip.replace(/\n/g, "; ")}` };
      this.totalsItem.show();
    } catch (error) {
      if (!cancel.token.isCancellationRequested) {
        this.server.log.debug(`documentTotals for ${document.uri.toString()}: ${String(error)}`);
        this.totalsItem.hide();
      }
    }
  }
}

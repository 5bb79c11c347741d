// One webview panel that shows the latest run, batch, evaluation, estimate or comparison.
import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import { renderResultsHtml, type ResultView } from "./resultsHtml";

export class ResultsPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;

  show(view: ResultView): void {
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel("promptwise.results", view.title, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
        enableScripts: true,
        // The page loads nothing: no local or remote resources.
        localResourceRoots: [],
      });
      this.panel.onDidDispose(() => (this.panel = undefined));
      // "Show trace" on a run, a batch row or an evaluation row opens the trace view.
      this.panel.webview.onDidReceiveMessage((message: { type?: string; run?: unknown; runs?: unknown; row?: unknown }) => {
        if (message?.type === "showTrace" && Array.isArray(message.run)) {
          void vscode.commands.executeCommand("promptwise.showTrace", { run: message.run, ...(typeof message.row === "number" ? { row: message.row } : {}) });
        }
        // Compare Models' page: a model's run, or the models' runs row by row.
        if (message?.type === "showRun" && typeof message.run === "string" && message.run) {
          void vscode.commands.executeCommand("promptwise.showRun", { run: message.run });
        }
        if (message?.type === "compareRuns" && Array.isArray(message.runs) && message.runs.every((run) => typeof run === "string")) {
          void vscode.commands.executeCommand("promptwise.compareRuns", { runs: message.runs });
        }
      });
    }
    this.panel.title = view.title;
    const nonce = randomBytes(16).toString("base64");
    this.panel.webview.html = renderResultsHtml(view, { nonce, cspSource: this.panel.webview.cspSource });
    this.panel.reveal(undefined, true);
  }

  dispose(): void {
    this.panel?.dispose();
  }
}

// Saving what the editor shows before the CLI or a job reads a flow from disk ("Serve Flow
// Locally", "Replay with the current prompt"): the flow file and every file under its folder
// (templates, prompty, python tools) that has unsaved edits.
import * as path from "node:path";
import * as vscode from "vscode";

/** `flow`: a flow.dag.yaml / flow.flex.yaml / .prompty file, or a flow's folder. */
export async function saveFlowFiles(flow: vscode.Uri, log?: vscode.LogOutputChannel): Promise<void> {
  const isFile = /\.(ya?ml|prompty)$/i.test(flow.fsPath);
  const folder = (isFile ? path.dirname(flow.fsPath) : flow.fsPath) + path.sep;
  const dirty = vscode.workspace.textDocuments.filter(
    (doc) => doc.isDirty && doc.uri.scheme === "file" && (doc.uri.fsPath === flow.fsPath || doc.uri.fsPath.startsWith(folder)),
  );
  if (!dirty.length) return;
  log?.info(`Saving ${dirty.map((doc) => vscode.workspace.asRelativePath(doc.uri)).join(", ")}: the flow is read from disk`);
  await Promise.all(dirty.map((doc) => doc.save()));
}

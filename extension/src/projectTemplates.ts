// "New Promptwise Project…": the templates `promptwise init` offers and the command line that
// creates one. Kept free of the vscode API so the unit tests can check it.

export const NEW_PROJECT = "promptwise.newProject";

export interface ProjectTemplate {
  id: string;
  label: string;
  detail: string;
}

/** The same names as `promptwise init --template` (server/promptwise/scaffold). */
export const PROJECT_TEMPLATES: readonly ProjectTemplate[] = [
  { id: "chat", label: "Chat flow", detail: "A Prompt flow chat flow: question and history in, answer out" },
  { id: "rag", label: "Answers from documents (RAG)", detail: "Retrieve passages with a Python tool, answer from them with citations" },
  { id: "classifier", label: "Classifier with evaluation", detail: "Sort tickets into categories (JSON answer) and score it with eval.yaml" },
  { id: "prompty", label: "Prompty", detail: "One prompt with its model settings, runnable on its own" },
];

/**
 * Arguments for the Python interpreter: `-m promptwise init FOLDER --template ID`, with
 * `--force` when the user chose to add the files to a folder that is not empty (init then
 * keeps every file already there; it never overwrites one).
 */
export function initProjectArgs(folder: string, template: string, options: { force?: boolean } = {}): string[] {
  if (!PROJECT_TEMPLATES.some((t) => t.id === template)) {
    throw new Error(`unknown project template ${JSON.stringify(template)}`);
  }
  return ["-m", "promptwise", "init", folder, "--template", template, ...(options.force ? ["--force"] : [])];
}

/** The choices offered for a folder that is not empty (a modal question). */
export const ADD_FILES_HERE = "Add Files Here (Keep Existing)";
export const CHOOSE_ANOTHER_FOLDER = "Choose Another Folder…";

/** The question asked when the chosen folder is not empty: what is there, and what adding means. */
export function nonEmptyFolderQuestion(folder: string, names: string[]): { message: string; detail: string } {
  const sorted = [...names].sort((a, b) => a.localeCompare(b));
  const listed = sorted.slice(0, 5).join(", ") + (sorted.length > 5 ? `, and ${sorted.length - 5} more` : "");
  return {
    message: `${folder} is not empty`,
    detail: `It holds ${sorted.length} item${sorted.length === 1 ? "" : "s"}: ${listed}.\n\n` +
      `Add the project's files beside ${sorted.length === 1 ? "it" : "them"}? A file that is already there is kept as it is, never overwritten. ` +
      "Or choose another folder (an empty one).",
  };
}

export interface InitReport {
  created: number;
  /** Files init found already there and left untouched (`kept    PATH (...)` on stderr). */
  kept: string[];
  /** init's warnings (e.g. a kept promptwise.yaml lacks the template's connection). */
  warnings: string[];
}

/** What `promptwise init` did, from its output (`created PATH` lines; `kept`, warnings on stderr). */
export function initReport(stdout: string, stderr: string): InitReport {
  const created = stdout.split("\n").filter((line) => line.startsWith("created ")).length;
  const kept: string[] = [];
  const warnings: string[] = [];
  let inWarning = false;
  for (const line of stderr.split("\n")) {
    const keptMatch = /^kept\s+(.+?) \(already there/.exec(line);
    if (keptMatch) kept.push(keptMatch[1]);
    else if (line.startsWith("promptwise: warning: ")) warnings.push(line.slice("promptwise: warning: ".length));
    // A warning's indented lines (the YAML to add) belong to it.
    else if (inWarning && /^\s+\S/.test(line)) warnings[warnings.length - 1] += ` ${line.trim()}`;
    inWarning = !keptMatch && (line.startsWith("promptwise: warning: ") || (inWarning && /^\s+\S/.test(line)));
  }
  return { created, kept, warnings };
}

/** The notification after init: what was created, and what was kept (not overwritten). */
export function initSummary(templateLabel: string, folder: string, report: InitReport): string {
  const base = (path: string) => path.split(/[\\/]/).pop() ?? path;
  const kept = report.kept.length
    ? ` Kept ${report.kept.length} file${report.kept.length === 1 ? "" : "s"} already there (not overwritten): ${report.kept.map(base).join(", ")}.`
    : "";
  const warned = report.warnings.length ? ` ${report.warnings.join(" ")}` : "";
  return `created a ${templateLabel} project in ${folder} (${report.created} file${report.created === 1 ? "" : "s"}).${kept}${warned} Its README.md says how to run it on the local scripted model.`;
}

/** The one line to show when `promptwise init` fails: its own message, not a traceback. */
export function initFailure(stderr: string, detail?: string): string {
  const lines = stderr.split("\n").map((line) => line.trim()).filter(Boolean);
  const last = lines.length ? lines[lines.length - 1] : "";
  return (last || detail || "promptwise init failed").replace(/^promptwise: (error: )?/, "");
}

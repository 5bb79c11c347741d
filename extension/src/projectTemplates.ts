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

/** Arguments for the Python interpreter: `-m promptwise init FOLDER --template ID`. */
export function initProjectArgs(folder: string, template: string): string[] {
  if (!PROJECT_TEMPLATES.some((t) => t.id === template)) {
    throw new Error(`unknown project template ${JSON.stringify(template)}`);
  }
  return ["-m", "promptwise", "init", folder, "--template", template];
}

/** The one line to show when `promptwise init` fails: its own message, not a traceback. */
export function initFailure(stderr: string, detail?: string): string {
  const lines = stderr.split("\n").map((line) => line.trim()).filter(Boolean);
  const last = lines.length ? lines[lines.length - 1] : "";
  return (last || detail || "promptwise init failed").replace(/^promptwise: (error: )?/, "");
}

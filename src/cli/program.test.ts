import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CliError } from "./cli-error.js";
import type { RunServer } from "./io.js";
import { loadRunServer } from "./server-command.js";
import type { ServerOptions } from "./server-options.js";
import { DOUBLE_TOKEN } from "./testing/admin-server-double.js";
import { runCli } from "./testing/captured-io.js";

/** Runs `gastrolog server ...` with a recording runServer in place of the real node. */
async function runServerWith(
  argv: string[],
  opts: { tty?: boolean; env?: Record<string, string>; exit?: number } = {},
) {
  const seen: ServerOptions[] = [];
  const runServer: RunServer = async (o) => {
    seen.push(o);
    return opts.exit ?? 0;
  };
  const run = await runCli(["server", ...argv], {
    runServer,
    stderrIsTTY: opts.tty ?? false,
    env: opts.env ?? {},
  });
  return { ...run, seen };
}

describe("usage errors exit 2 with commander's message", () => {
  const cases: [string[], RegExp][] = [
    [["bogus"], /unknown command 'bogus'/],
    [["cluster", "bogus"], /unknown command 'bogus'/],
    [["cluster", "status", "--bogus"], /unknown option '--bogus'/],
    [["cluster", "status", "-o", "yaml"], /Allowed choices are table, json/],
    [["cluster", "remove"], /missing required argument 'node'/],
    [["cluster", "promote", "n2", "--timeout", "soon"], /--timeout/],
    [["config", "put", "k"], /missing required argument 'value'/],
    [["config", "get"], /missing required argument 'key'/],
    [["config", "put", "k", "v", "--if-revision", "-1"], /--if-revision/],
    [["config", "put", "k", "v", "--if-revision", "x"], /whole number/],
    [["token", "create", "--ttl", "0"], /is zero/],
    [["token", "create", "--ttl", "-5m"], /--ttl/],
    [["token", "create", "--ttl", "1.5h"], /1h30m/],
    [["token", "create", "--uses", "0"], /whole number from 1/],
    [["token", "create", "--label", "a\nb"], /control characters/],
    [["token", "revoke"], /missing required argument 'id'/],
    [["cert", "rotate", "extra"], /too many arguments/],
    [["server", "--log-format", "xml"], /Allowed choices are json, pretty/],
    [
      ["server", "--log-level", "verbose"],
      /Allowed choices are fatal, error, warn, info, debug, trace, silent/,
    ],
    [["server", "--listen", "4564"], /no port/],
    [["server", "--cluster-addr", "::1:4566"], /brackets/],
    [["server", "--advertise-addr", "0.0.0.0:4566"], /cannot dial/],
    [["server", "--advertise-addr", "[::]:4566"], /cannot dial/],
    [["server", "--advertise-addr", "[0:0::0]:4566"], /cannot dial/],
    [["server", "--advertise-addr", ":4566"], /host is required/],
    [["server", "--join-addr", "h:0", "--join-token", DOUBLE_TOKEN], /port must be a number/],
    [["server", "--name", "has space"], /node name/],
  ];
  for (const [argv, message] of cases) {
    it(`gastrolog ${argv.join(" ").replace(/\n/g, "\\n")}`, async () => {
      const run = await runCli(argv, { runServer: async () => 0 });
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, "");
    });
  }

  it("a group without a subcommand shows its help on stderr and exits 2", async () => {
    const run = await runCli(["config"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /Usage: gastrolog config/);
  });

  it("--help exits 0 with examples on stdout, for every command", async () => {
    for (const argv of [
      ["server"],
      ["cluster", "status"],
      ["cluster", "nodes"],
      ["cluster", "remove"],
      ["cluster", "promote"],
      ["cluster", "demote"],
      ["cluster", "transfer-leader"],
      ["cluster", "audit"],
      ["config", "put"],
      ["config", "get"],
      ["config", "delete"],
      ["config", "list"],
      ["token", "create"],
      ["token", "list"],
      ["token", "revoke"],
      ["token", "rotate"],
      ["cert", "show"],
      ["cert", "rotate"],
      ["ca", "rotate"],
    ]) {
      const run = await runCli([...argv, "--help"]);
      assert.equal(run.code, 0, argv.join(" "));
      assert.match(run.stdout, new RegExp(`Usage: gastrolog ${argv.join(" ")}`));
      assert.match(run.stdout, /--home <dir>/, argv.join(" "));
      assert.match(run.stdout, /Examples:\n {2}\$ gastrolog /, argv.join(" "));
    }
  });

  it("--version prints the package version and exits 0", async () => {
    const run = await runCli(["--version"]);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^\d+\.\d+\.\d+/);
  });
});

describe("gastrolog server flags", () => {
  it("passes the defaults to runServer", async () => {
    const run = await runServerWith([], { env: { GASTROLOG_HOME: "/srv/gl" } });
    assert.equal(run.code, 0, run.stderr);
    assert.deepStrictEqual(run.seen, [
      {
        home: "/srv/gl",
        bootstrap: false,
        nonvoter: false,
        listen: ":4564",
        clusterAddr: ":4566",
        logLevel: "info",
        logFormat: "json",
      },
    ]);
  });

  it("defaults --log-format to pretty when stderr is a terminal", async () => {
    const run = await runServerWith([], { tty: true });
    assert.equal(run.seen[0]?.logFormat, "pretty");
    const explicit = await runServerWith(["--log-format", "json"], { tty: true });
    assert.equal(explicit.seen[0]?.logFormat, "json");
  });

  it("passes every flag through", async () => {
    const run = await runServerWith([
      "--home",
      "/tmp/n2",
      "--join-addr",
      "[::1]:4566",
      "--join-token",
      ` ${DOUBLE_TOKEN}\n`,
      "--nonvoter",
      "--name",
      "node-2",
      "--listen",
      "127.0.0.1:0",
      "--cluster-addr",
      "[::1]:5566",
      "--advertise-addr",
      "node2.example:5566",
      "--log-level",
      "debug",
      "--log-format",
      "pretty",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepStrictEqual(run.seen, [
      {
        home: "/tmp/n2",
        bootstrap: false,
        joinAddr: "[::1]:4566",
        joinToken: DOUBLE_TOKEN,
        nonvoter: true,
        name: "node-2",
        listen: "127.0.0.1:0",
        clusterAddr: "[::1]:5566",
        advertiseAddr: "node2.example:5566",
        logLevel: "debug",
        logFormat: "pretty",
      },
    ]);
  });

  it("passes --bootstrap with join flags through (only the server knows if the home is initialised)", async () => {
    const run = await runServerWith([
      "--bootstrap",
      "--join-addr",
      "h:4566",
      "--join-token",
      DOUBLE_TOKEN,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.seen[0]?.bootstrap, true);
    assert.equal(run.seen[0]?.joinAddr, "h:4566");
  });

  it("reads the join token from $GASTROLOG_JOIN_TOKEN when only --join-addr is given", async () => {
    const run = await runServerWith(["--join-addr", "h:4566"], {
      env: { GASTROLOG_JOIN_TOKEN: DOUBLE_TOKEN },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.seen[0]?.joinToken, DOUBLE_TOKEN);
    const bootstrap = await runServerWith(["--bootstrap"], {
      env: { GASTROLOG_JOIN_TOKEN: DOUBLE_TOKEN },
    });
    assert.equal(
      bootstrap.seen[0]?.joinToken,
      undefined,
      "the variable alone must not start a join",
    );
  });

  it("returns runServer's exit code", async () => {
    const run = await runServerWith([], { exit: 3 });
    assert.equal(run.code, 3);
  });

  const refused: [string[], RegExp][] = [
    [["--join-addr", "h:4566"], /--join-addr needs --join-token/],
    [["--join-token", DOUBLE_TOKEN], /--join-token needs --join-addr/],
    [["--nonvoter"], /--nonvoter only applies when joining/],
    [["--bootstrap", "--nonvoter"], /--nonvoter only applies when joining/],
  ];
  for (const [argv, message] of refused) {
    it(`refuses ${argv.join(" ").replace(DOUBLE_TOKEN, "TOKEN")} with exit 2 and does not start`, async () => {
      const run = await runServerWith(argv);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /^gastrolog: /);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split("\n").length, 1, "one line");
      assert.deepEqual(run.seen, []);
    });
  }

  it("refuses a malformed join token without echoing any of it", async () => {
    const secretish = "s3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3t";
    for (const token of [
      secretish,
      `${secretish}:abc`,
      `${secretish.slice(1)}:${"a".repeat(64)}`,
    ]) {
      const run = await runServerWith(["--join-addr", "h:4566", "--join-token", token]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /malformed join token/);
      assert.ok(!run.stderr.includes(secretish.slice(1, 20)), run.stderr);
      assert.deepEqual(run.seen, []);
    }
  });
});

describe("loadRunServer", () => {
  it("reports a missing server module as a broken build, in one line", async () => {
    await assert.rejects(loadRunServer("./no-such-dir/run.js"), (err: unknown) => {
      assert.ok(err instanceof CliError);
      assert.match(
        err.line(),
        /^gastrolog: this build of gastrolog has no server \(.*no-such-dir\/run\.js is missing\) — run `npm run build`/,
      );
      return true;
    });
  });

  it("loads runServer from a module and rejects one without it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gl-cli-load-"));
    try {
      await writeFile(
        join(dir, "good.mjs"),
        "export async function runServer(o) { return o.listen === ':1' ? 7 : 0; }\n",
      );
      await writeFile(join(dir, "bad.mjs"), "export const nothing = 1;\n");
      const run = await loadRunServer(join(dir, "good.mjs"));
      assert.equal(await run({ listen: ":1" } as ServerOptions), 7);
      await assert.rejects(loadRunServer(join(dir, "bad.mjs")), /does not export runServer/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

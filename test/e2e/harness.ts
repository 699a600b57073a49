/**
 * End-to-end harness: runs real `gastrolog server` processes (bin/gastrolog, compiled by
 * `npm run build`) on 127.0.0.1 in temporary homes, and the real CLI against them.
 *
 * Every process is tracked by PID and ended by `Cluster.cleanup()` (call it in `after` or a
 * `finally`), also when a test fails. Waits are on events (log lines, exits) or polls with
 * a deadline; never bare sleeps.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { type AdminClient, createAdminClient } from "../../src/cli/admin-client.js";
import { HealthService } from "../../src/gen/gastrolog/v1/health_pb.js";

const ROOT = new URL("../..", import.meta.url).pathname;
/** The CLI entry point, as operators run it. */
export const BIN = join(ROOT, "bin", "gastrolog");

/** Fast Raft timing for tests (production defaults are 100 ms / 1000 ms). */
export const FAST_ENV: Record<string, string> = {
  GASTROLOG_HEARTBEAT_MS: "50",
  GASTROLOG_ELECTION_TIMEOUT_MS: "400",
  GASTROLOG_JOIN_RETRY_MS: "3000",
};

/** One parsed JSON log line from a server's stderr. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

/** The outcome of a finished process. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running (or finished) `gastrolog server` process. */
export class ServerProc {
  readonly stdout: string[] = [];
  /** Raw stderr lines (JSON log lines and plain `gastrolog: ...` error lines). */
  readonly stderr: string[] = [];
  readonly logs: LogLine[] = [];
  readonly exited: Promise<Exit>;
  private readonly waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  private exit: Exit | undefined;

  constructor(
    readonly name: string,
    readonly home: string,
    readonly child: ChildProcess,
  ) {
    let outBuf = "";
    let errBuf = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      outBuf += d;
      const parts = outBuf.split("\n");
      outBuf = parts.pop() ?? "";
      this.stdout.push(...parts);
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      errBuf += d;
      const parts = errBuf.split("\n");
      errBuf = parts.pop() ?? "";
      for (const line of parts) this.onErrLine(line);
    });
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        if (errBuf) this.onErrLine(errBuf);
        if (outBuf) this.stdout.push(outBuf);
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.exit === undefined;
  }

  private onErrLine(line: string): void {
    this.stderr.push(line);
    if (!line.startsWith("{")) return;
    let parsed: LogLine;
    try {
      parsed = JSON.parse(line) as LogLine;
    } catch {
      return;
    }
    this.logs.push(parsed);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.pred(parsed)) {
        this.waiters.splice(i, 1);
        w.resolve(parsed);
      }
    }
  }

  /** Resolves with the first log line (past or future) that matches; rejects on exit or timeout. */
  waitLog(pred: (l: LogLine) => boolean, timeoutMs = 20_000, what = "log line"): Promise<LogLine> {
    const seen = this.logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (l: LogLine) => {
          clearTimeout(t);
          resolve(l);
        },
      };
      this.waiters.push(w);
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(
          new Error(
            `${this.name}: no ${what} within ${timeoutMs} ms; stderr tail:\n${this.stderr.slice(-15).join("\n")}`,
          ),
        );
      }, timeoutMs);
      void this.exited.then((e) => {
        if (this.waiters.includes(w)) {
          clearTimeout(t);
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(
            new Error(
              `${this.name} exited (${e.code ?? e.signal}) before ${what}; stderr tail:\n${this.stderr.slice(-15).join("\n")}`,
            ),
          );
        }
      });
    });
  }

  /** Waits for the "serving" line and returns the node's addresses. */
  async serving(
    timeoutMs = 30_000,
  ): Promise<{ nodeId: string; clusterAddr: string; apiPort: number }> {
    const l = await this.waitLog((x) => x.msg === "serving", timeoutMs, '"serving"');
    return {
      nodeId: String(l.nodeId),
      clusterAddr: String(l.clusterAddr),
      apiPort: Number(l.apiPort),
    };
  }

  /** Sends a signal to this process (by its PID) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 20_000): Promise<Exit> {
    if (!this.running) return this.exit!;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const e = await this.exited;
    clearTimeout(t);
    return e;
  }

  /** SIGKILL: no shutdown code runs, as in a crash. */
  kill9(): Promise<Exit> {
    return this.stop("SIGKILL");
  }
}

/** The result of one CLI run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (`bin/gastrolog ARGS`) and collects its output. */
export function cli(
  args: readonly string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `gastrolog ${args.join(" ")} did not finish within ${opts.timeoutMs ?? 30_000} ms`,
        ),
      );
    }, opts.timeoutMs ?? 30_000);
    child.on("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
    child.on("exit", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI with `-o json` and parses stdout; throws with stderr on failure. */
export async function cliJson<T = Record<string, unknown>>(args: readonly string[]): Promise<T> {
  const r = await cli([...args, "-o", "json"]);
  if (r.code !== 0)
    throw new Error(`gastrolog ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

/** Polls `check` until it returns a value other than undefined/false, or fails with `what`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (performance.now() > deadline) {
      throw new Error(
        `${what} did not happen within ${timeoutMs} ms${lastErr ? ` (last error: ${(lastErr as Error).message})` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Options for starting one server. */
export interface StartOptions {
  bootstrap?: boolean;
  joinAddr?: string;
  joinToken?: string;
  nonvoter?: boolean;
  /** Reuse an existing home (restart). */
  home?: string;
  /** Extra flags. */
  args?: string[];
  env?: Record<string, string>;
  /**
   * Cluster port. Default: a free port below the ephemeral range (freeLoopbackPort) for a
   * new home, and 0 for an existing one, where the node keeps the port it is known by.
   */
  clusterPort?: number;
}

/**
 * A set of server processes in temporary homes under one directory. Call `cleanup()`
 * in `after`/`finally`: it ends every process this cluster started (by PID) and removes
 * the directory.
 */
export class Cluster {
  readonly procs: ServerProc[] = [];
  /** The latest process per node name. */
  readonly byName = new Map<string, ServerProc>();

  private constructor(readonly dir: string) {}

  static async create(prefix = "gastrolog-e2e-"): Promise<Cluster> {
    return new Cluster(await mkdtemp(join(tmpdir(), prefix)));
  }

  homeOf(name: string): string {
    return join(this.dir, name);
  }

  /** Starts `gastrolog server` for node `name` (a new process; the home may exist). */
  async start(name: string, o: StartOptions = {}): Promise<ServerProc> {
    const home = o.home ?? this.homeOf(name);
    const clusterPort =
      o.clusterPort ?? (existsSync(join(home, "node.json")) ? 0 : await freeLoopbackPort());
    const args = [
      BIN,
      "server",
      "--home",
      home,
      "--name",
      name,
      "--listen",
      "127.0.0.1:0",
      "--cluster-addr",
      `127.0.0.1:${clusterPort}`,
      "--log-format",
      "json",
    ];
    if (o.bootstrap) args.push("--bootstrap");
    if (o.joinAddr) args.push("--join-addr", o.joinAddr);
    if (o.joinToken) args.push("--join-token", o.joinToken);
    if (o.nonvoter) args.push("--nonvoter");
    args.push(...(o.args ?? []));
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...FAST_ENV, ...o.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const p = new ServerProc(name, home, child);
    this.procs.push(p);
    this.byName.set(name, p);
    return p;
  }

  /** Bootstraps node `name`; resolves once it serves, with its join token. */
  async bootstrap(name = "n1"): Promise<{ proc: ServerProc; token: string; clusterAddr: string }> {
    const proc = await this.start(name, { bootstrap: true });
    const s = await proc.serving();
    const token = (await readFile(join(proc.home, "join-token"), "utf8")).trim();
    return { proc, token, clusterAddr: s.clusterAddr };
  }

  /** Starts node `name` joining through `via`'s cluster address; resolves once it serves. */
  async join(name: string, via: string, token: string, o: StartOptions = {}): Promise<ServerProc> {
    const proc = await this.start(name, { ...o, joinAddr: via, joinToken: token });
    await proc.serving();
    return proc;
  }

  /** Bootstraps n1 and joins n2..nN through n1; resolves when all serve as voters. */
  async up(n = 3): Promise<{ token: string; addrs: Map<string, string> }> {
    const { token, clusterAddr } = await this.bootstrap("n1");
    const addrs = new Map([["n1", clusterAddr]]);
    for (let i = 2; i <= n; i++) {
      const p = await this.join(`n${i}`, clusterAddr, token);
      addrs.set(`n${i}`, (await p.serving()).clusterAddr);
    }
    return { token, addrs };
  }

  /** Restarts node `name` from its home (same cluster port); resolves once it serves. */
  async restart(name: string): Promise<ServerProc> {
    const old = this.byName.get(name);
    if (old?.running) await old.stop();
    const p = await this.start(name, { home: this.homeOf(name) });
    await p.serving();
    return p;
  }

  /** The CLI against node `name`'s home. */
  cli(name: string, args: readonly string[]): Promise<CliResult> {
    return cli([...args, "--home", this.homeOf(name)]);
  }

  cliJson<T = Record<string, unknown>>(name: string, args: readonly string[]): Promise<T> {
    return cliJson<T>([...args, "--home", this.homeOf(name)]);
  }

  /** Ends every process this cluster started (SIGKILL, by PID) and removes its directory. */
  async cleanup(): Promise<void> {
    await Promise.all(this.procs.filter((p) => p.running).map((p) => p.stop("SIGKILL", 5000)));
    if (existsSync(this.dir)) await rm(this.dir, { recursive: true, force: true });
  }
}

/** Status as `cluster status -o json` prints it (the fields tests read). */
export interface StatusJson {
  clusterId: string;
  nodeId: string;
  nodeName: string;
  role: string;
  leaderId: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  members: {
    id: string;
    name: string;
    suffrage: string;
    clusterAddr: string;
    apiAddr: string;
    healthy: boolean;
    lastContactMs: number;
  }[];
  tls: {
    caFingerprints: string[];
    certFingerprint: string;
    certNotAfter: string;
    serverName?: string | null;
    rotation: unknown;
  };
  notice: string | null;
}

// ---- Raft runtime helpers (issue 4 tests) ----

/**
 * An admin client over `<home>/api.sock`, the way the CLI connects, for tests that make
 * many calls: a CLI process per call costs ~300 ms. Call `close()` when done.
 */
export function adminClient(home: string): AdminClient {
  return createAdminClient({ home });
}

/**
 * The kernel's ephemeral range (ports it hands to `listen(0)` and to outgoing connections).
 * Linux only; elsewhere the common default.
 */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    if (lo && hi) return [lo, hi];
  } catch {
    // not Linux
  }
  return [32768, 60999];
}

let portCursor = -1;

/**
 * A free TCP port on 127.0.0.1 for a process that must bind a port known in advance.
 *
 * Ports come from below the kernel's ephemeral range, so nothing can take one between this
 * probe and the caller's bind: not an outgoing connection (its local port is ephemeral),
 * and not another `listen(0)`. (CI once lost a port picked with `listen(0)` that way.)
 * Each test process starts at an offset derived from its PID, so concurrent test files
 * probe different ports; a port another process holds fails the probe and is skipped.
 */
export async function freeLoopbackPort(): Promise<number> {
  const [ephemeralLo] = ephemeralRange();
  const lo = 10_000;
  const span = Math.max(1000, ephemeralLo - lo);
  if (portCursor < 0) portCursor = (process.pid * 7919) % span;
  for (let tries = 0; tries < 200; tries++) {
    const port = lo + (portCursor++ % span);
    if (await canListen(port)) return port;
  }
  throw new Error("freeLoopbackPort: no free port below the ephemeral range after 200 tries");
}

function canListen(port: number): Promise<boolean> {
  const srv = createNetServer();
  return new Promise((resolve) => {
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** One node's view of leadership, from the admin API's GetStatus. */
export interface LeaderView {
  /** The asking node's name. */
  node: string;
  leaderId: string;
  /** The leader's name (from the member list), "" if unknown. */
  leaderName: string;
  term: number;
  role: string;
  commitIndex: number;
  appliedIndex: number;
}

/** GetStatus on node `name` (over its socket), reduced to the leadership fields. */
export async function leaderView(c: Cluster, name: string): Promise<LeaderView> {
  const a = adminClient(c.homeOf(name));
  try {
    const s = await a.cluster.getStatus({}, { timeoutMs: 5000 });
    return {
      node: name,
      leaderId: s.leaderId,
      leaderName: s.members.find((m) => m.id === s.leaderId)?.name ?? "",
      term: Number(s.term),
      role: s.role,
      commitIndex: Number(s.commitIndex),
      appliedIndex: Number(s.appliedIndex),
    };
  } finally {
    a.close();
  }
}

/**
 * Waits until every node in `names` reports the same leader in the same term, that
 * leader is one of `names` and calls itself leader. Resolves with the leader's view.
 */
export async function agreedLeader(
  c: Cluster,
  names: readonly string[],
  timeoutMs = 20_000,
): Promise<LeaderView> {
  return eventually(
    async () => {
      const views = await Promise.all(names.map((n) => leaderView(c, n)));
      const first = views[0];
      if (!first?.leaderId) return undefined;
      const same = views.every((v) => v.leaderId === first.leaderId && v.term === first.term);
      const leader = views.find((v) => v.node === first.leaderName);
      return same && leader?.role === "leader" ? leader : undefined;
    },
    `one leader agreed on by ${names.join(", ")}`,
    timeoutMs,
  );
}

/** The whole key/value store of node `name` as `key -> "value@revision"` (local read). */
export async function configSnapshot(c: Cluster, name: string): Promise<Map<string, string>> {
  const a = adminClient(c.homeOf(name));
  try {
    const res = await a.config.list({ prefix: "" }, { timeoutMs: 10_000 });
    return new Map(
      res.kvs.map((kv) => [kv.key, `${new TextDecoder().decode(kv.value)}@${kv.revision}`]),
    );
  } finally {
    a.close();
  }
}

/**
 * Bootstraps n1 and joins n2..nN through n1 like `Cluster.up`, with extra environment
 * for every node (e.g. GASTROLOG_SNAPSHOT_THRESHOLD).
 */
export async function upWithEnv(
  c: Cluster,
  n: number,
  env: Record<string, string>,
): Promise<{ token: string; clusterAddr: string }> {
  const first = await c.start("n1", { bootstrap: true, env });
  const s = await first.serving();
  const token = (await readFile(join(first.home, "join-token"), "utf8")).trim();
  for (let i = 2; i <= n; i++) await c.join(`n${i}`, s.clusterAddr, token, { env });
  return { token, clusterAddr: s.clusterAddr };
}

// ---- TLS probes and a write loop (issue 6 tests: tokens, rotation, eviction) ----

/** A node's TLS material as `<home>/tls/` holds it (PEM text). */
export interface TlsFiles {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Reads `<home>/tls/{ca.pem,cluster.pem,cluster.key}`: what the node presents right now. */
export async function readTlsDir(home: string): Promise<TlsFiles> {
  const [caPem, certPem, keyPem] = await Promise.all(
    ["ca.pem", "cluster.pem", "cluster.key"].map((f) => readFile(join(home, "tls", f), "utf8")),
  );
  return { caPem: caPem!, certPem: certPem!, keyPem: keyPem! };
}

/** Lowercase hex SHA-256 of a DER certificate: the fingerprint `cert show` prints. */
export function derFingerprint(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

/**
 * Opens TLS to a cluster address (presenting `client` if given, trusting anything: the
 * probe judges the server, not the other way round) and returns the leaf it serves (DER).
 */
export async function servedLeaf(addr: string, client?: TlsFiles): Promise<Buffer> {
  const [host, port] = splitAddr(addr);
  const socket = tlsConnect({
    host,
    port,
    ALPNProtocols: ["h2"],
    rejectUnauthorized: false,
    ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
  });
  try {
    await once(socket, "secureConnect", { signal: AbortSignal.timeout(5000) });
    return Buffer.from(socket.getPeerCertificate().raw);
  } finally {
    socket.destroy();
  }
}

/** The outcome of one authenticated call: served, or the gRPC code (snake_case) it failed with. */
export type ProbeResult = { ok: true } | { ok: false; code: string; message: string };

/** True for the two codes the cluster-port gate refuses a peer with. */
export function isRefusal(r: ProbeResult): boolean {
  return !r.ok && (r.code === "permission_denied" || r.code === "unauthenticated");
}

/**
 * `HealthService.Check` on a cluster address over a fresh HTTP/2 session presenting
 * `client` (the test plays a node holding that material). The session is closed after.
 */
export async function probeHealth(
  addr: string,
  client: TlsFiles,
  timeoutMs = 5000,
): Promise<ProbeResult> {
  const manager = new Http2SessionManager(
    `https://${addr}`,
    { idleConnectionTimeoutMs: 2000 },
    {
      cert: client.certPem,
      key: client.keyPem,
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
    },
  );
  try {
    const health = createClient(
      HealthService,
      createGrpcTransport({ baseUrl: `https://${addr}`, sessionManager: manager }),
    );
    await health.check({}, { timeoutMs });
    return { ok: true };
  } catch (err) {
    const e = ConnectError.from(err);
    return { ok: false, code: codeToString(e.code), message: e.rawMessage };
  } finally {
    manager.abort();
  }
}

function splitAddr(addr: string): [string, number] {
  const i = addr.lastIndexOf(":");
  return [addr.slice(0, i).replace(/^\[|\]$/g, ""), Number(addr.slice(i + 1))];
}

/**
 * Config writes in a loop against one node's admin socket, for "writes keep flowing"
 * assertions. `stop()` resolves to the counts and the longest stretch (ms) during which
 * every write failed.
 */
export function startWriteLoop(
  home: string,
  prefix = "loop/",
): { stop(): Promise<{ ok: number; failed: number; longestOutageMs: number; errors: string[] }> } {
  const admin = adminClient(home);
  let running = true;
  let ok = 0;
  let failed = 0;
  let failingSince: number | undefined;
  let longestOutageMs = 0;
  const errors: string[] = [];
  const loop = (async () => {
    for (let i = 0; running; i++) {
      try {
        await admin.config.put(
          { key: `${prefix}${i % 50}`, value: new TextEncoder().encode(String(i)) },
          { timeoutMs: 5000 },
        );
        ok++;
        if (failingSince !== undefined) {
          longestOutageMs = Math.max(longestOutageMs, performance.now() - failingSince);
          failingSince = undefined;
        }
      } catch (err) {
        failed++;
        failingSince ??= performance.now();
        if (errors.length < 20) errors.push((err as Error).message);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      admin.close();
      if (failingSince !== undefined) {
        longestOutageMs = Math.max(longestOutageMs, performance.now() - failingSince);
      }
      return { ok, failed, longestOutageMs, errors };
    },
  };
}

/** A Connect code as the snake_case name the gRPC spec uses ("permission_denied"). */
export function codeToString(code: Code): string {
  return (Code[code] ?? String(code)).replace(
    /[A-Z]/g,
    (m, i: number) => (i > 0 ? "_" : "") + m.toLowerCase(),
  );
}

/**
 * Issue 6, tests 8 and 9: the unauthenticated surface of the cluster port under abuse.
 * Brute force from one source address gets rate-limited while a legitimate join from
 * another works; seeded fuzz of Enroll fields, of raw gRPC bodies to every cluster-port
 * method without a certificate, and of the token parser changes nothing and crashes
 * nothing. Linux routes all of 127/8 to loopback, so 127.0.0.x are distinct sources.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import * as net from "node:net";
import { after, before, describe, test } from "node:test";
import * as tls from "node:tls";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, type GrpcTransportOptions } from "@connectrpc/connect-node";
import { EnrollService, EnrollSuffrage } from "../../src/gen/gastrolog/v1/enroll_pb.js";
import { HealthService } from "../../src/gen/gastrolog/v1/health_pb.js";
import { NodeService } from "../../src/gen/gastrolog/v1/node_pb.js";
import { RaftService } from "../../src/gen/gastrolog/v1/raft_pb.js";
import { JoinTokenError, parseJoinToken } from "../../src/pki/join-token.js";
import {
  agreedLeader,
  Cluster,
  codeToString,
  configSnapshot,
  eventually,
  probeHealth,
  readTlsDir,
} from "./harness.js";

/** A seeded PRNG (mulberry32): the fuzz is the same on every run. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256));
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const str = (n: number, alphabet?: string): string =>
    Array.from({ length: n }, () =>
      alphabet ? alphabet[int(alphabet.length)]! : String.fromCodePoint(int(0x2fff)),
    ).join("");
  return { next, int, bytes, pick, str };
}

type SessionManager = NonNullable<GrpcTransportOptions["sessionManager"]>;

/** TLS without a client certificate to a cluster address, from source `localAddress`. */
async function tlsFrom(addr: string, localAddress: string): Promise<tls.TLSSocket> {
  const i = addr.lastIndexOf(":");
  // The TCP socket is made here so that its source address is ours to choose.
  const tcp = net.connect({
    host: addr.slice(0, i),
    port: Number(addr.slice(i + 1)),
    localAddress,
  });
  const socket = tls.connect({ socket: tcp, ALPNProtocols: ["h2"], rejectUnauthorized: false });
  await once(socket, "secureConnect", { signal: AbortSignal.timeout(5000) });
  return socket;
}

/** An EnrollService client over one TLS session from `localAddress`, with no certificate. */
async function enrollClientFrom(addr: string, localAddress: string) {
  const socket = await tlsFrom(addr, localAddress);
  const authority = `https://${addr}`;
  const session = http2.connect(authority, { createConnection: () => socket });
  session.on("error", () => undefined);
  const manager: SessionManager = {
    authority,
    async request(method, path, headers, options) {
      return session.request({ ...headers, ":method": method, ":path": path }, options);
    },
    notifyResponseByteRead() {},
  };
  const client = createClient(
    EnrollService,
    createGrpcTransport({ baseUrl: authority, sessionManager: manager }),
  );
  return { client, close: () => session.destroy() };
}

/** Calls `fn`; resolves to "ok" or the snake_case code it failed with, and the message. */
async function outcome(fn: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await fn();
    return { code: "ok", message: "" };
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: codeToString(e.code), message: e.rawMessage };
  }
}

function tally(codes: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of codes) out[c] = (out[c] ?? 0) + 1;
  return out;
}

const NODE_ID = "0123456789abcdef0123456789abcdef";

describe("e2e: enrollment under abuse (issue 6, tests 8-9)", () => {
  let c: Cluster;
  let token = "";
  const addrs = new Map<string, string>();

  before(async () => {
    c = await Cluster.create("gastrolog-ops-abuse-");
    const up = await c.up(3);
    token = up.token;
    for (const [k, v] of up.addrs) addrs.set(k, v);
  });
  after(async () => {
    await c.cleanup();
  });

  test("test 8: 1,000 wrong secrets from 127.0.0.2 are rate-limited and audited boundedly; the right token still works from 127.0.0.1", async () => {
    const leader = await agreedLeader(c, ["n1", "n2", "n3"]);
    const leaderAddr = addrs.get(leader.node)!;
    const auditBefore = await auditEvents(c, "n1");
    const rnd = prng(8);
    const attacker = await enrollClientFrom(leaderAddr, "127.0.0.2");
    const codes: string[] = [];
    try {
      for (let i = 0; i < 1000; i += 20) {
        const batch = await Promise.all(
          Array.from({ length: 20 }, () =>
            outcome(() =>
              attacker.client.enroll(
                {
                  secret: rnd.bytes(32),
                  nodeId: NODE_ID,
                  nodeName: "intruder",
                  clusterAddr: "127.0.0.2:4566",
                  suffrage: EnrollSuffrage.VOTER,
                },
                { timeoutMs: 10_000 },
              ),
            ),
          ),
        );
        codes.push(...batch.map((b) => b.code));
      }
      const t = tally(codes);
      assert.deepEqual(
        Object.keys(t).sort(),
        ["resource_exhausted", "unauthenticated"],
        `${JSON.stringify(t)}`,
      );
      assert.ok(
        t.unauthenticated! <= 10 + 20,
        `at most the limit (+1 batch in flight) got a verdict: ${JSON.stringify(t)}`,
      );
      assert.equal(
        codes.slice(-500).every((x) => x === "resource_exhausted"),
        true,
        "blocked",
      );
      // The source is blocked, not the token checked: even the right secret is refused.
      const right = parseJoinToken(token);
      const blocked = await outcome(() =>
        attacker.client.enroll(
          {
            secret: right.secret,
            nodeId: NODE_ID,
            nodeName: "intruder",
            clusterAddr: "127.0.0.2:4566",
          },
          { timeoutMs: 10_000 },
        ),
      );
      assert.equal(blocked.code, "resource_exhausted");
    } finally {
      attacker.close();
    }

    const auditAfter = await auditEvents(c, "n1");
    const failed = auditAfter
      .slice(auditBefore.length)
      .filter((e) => e.kind === "enroll.failed" && e.details.source === "127.0.0.2");
    assert.ok(
      failed.length >= 1 && failed.length <= 10,
      `audit entries: ${failed.length}; new: ${JSON.stringify(auditAfter.slice(auditBefore.length).slice(0, 3))} (${auditBefore.length} -> ${auditAfter.length})`,
    );
    const text = JSON.stringify(auditAfter);
    assert.equal(text.includes(token.split(":")[0]!), false, "no secret in the audit trail");

    // A real join dials from 127.0.0.1: not the blocked source.
    const n4 = await c.join("n4", leaderAddr, token);
    addrs.set("n4", (await n4.serving()).clusterAddr);
    const nodes = await eventually(async () => {
      const s = await c.cliJson<{ nodes?: unknown[]; members?: { name: string }[] }>("n1", [
        "cluster",
        "status",
      ]);
      return s.members?.some((m) => m.name === "n4") ? s : undefined;
    }, "n4 to join with the legitimate token");
    assert.ok(nodes);
    assert.equal(
      (await c.cliJson<{ members: { name: string }[] }>("n1", ["cluster", "status"])).members.some(
        (m) => m.name === "intruder",
      ),
      false,
    );
  });

  test("test 9: seeded fuzz — garbage Enroll fields, garbage gRPC bodies to every method without a certificate, random token strings — clear errors, no crash, state unchanged", async () => {
    const names = ["n1", "n2", "n3", "n4"];
    const leader = await agreedLeader(c, names);
    const nodesBefore = await c.cliJson("n1", ["cluster", "nodes"]);
    const tokensBefore = await c.cliJson("n1", ["token", "list"]);
    const kvBefore = await configSnapshot(c, leader.node);
    const auditBefore = await auditEvents(c, "n1");
    const pids = names.map((n) => c.byName.get(n)!.pid);
    const rnd = prng(9);

    // (a) Enroll with random or malformed fields, through every node (followers forward).
    const sources = ["127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.1.4"];
    const enrollCodes: string[] = [];
    for (const [i, n] of names.entries()) {
      const client = await enrollClientFrom(addrs.get(n)!, sources[i]!);
      try {
        for (let k = 0; k < 60; k++) {
          const req = {
            secret: rnd.pick([rnd.bytes(32), rnd.bytes(rnd.int(80)), new Uint8Array(0)]),
            nodeId: rnd.pick([
              NODE_ID,
              rnd.str(32, "0123456789abcdef"),
              rnd.str(rnd.int(200)),
              "",
              "../../etc",
            ]),
            nodeName: rnd.pick([
              "ok-name",
              rnd.str(rnd.int(70_000)),
              "",
              "a b\n",
              rnd.str(64, "abc"),
            ]),
            clusterAddr: rnd.pick([
              "127.0.0.9:4566",
              "0.0.0.0:1",
              "[::]:5",
              "host:99999",
              rnd.str(rnd.int(300)),
              "",
              "h:0",
            ]),
            apiAddr: rnd.pick(["", rnd.str(rnd.int(1000))]),
            suffrage: rnd.pick([0, 1, 2, 3, 99, -1]) as EnrollSuffrage,
          };
          const o = await outcome(() => client.client.enroll(req, { timeoutMs: 10_000 }));
          enrollCodes.push(o.code);
          assert.ok(
            ["invalid_argument", "unauthenticated", "resource_exhausted"].includes(o.code),
            `Enroll #${k} via ${n}: ${o.code} ${o.message}`,
          );
          assert.ok(
            o.message.length > 0 && o.message.length < 300,
            `a clear message: ${o.message}`,
          );
        }
      } finally {
        client.close();
      }
    }

    // (b) Raw HTTP/2 gRPC requests with random framed bodies, no client certificate.
    const methods: string[] = [];
    for (const s of [RaftService, NodeService, HealthService, EnrollService]) {
      for (const m of s.methods) methods.push(`/${s.typeName}/${m.name}`);
    }
    methods.push("/gastrolog.v1.ClusterService/RemoveNode", `/${rnd.str(20, "abcxyz./")}`);
    const publicMethods = new Set([
      `/${EnrollService.typeName}/Enroll`,
      `/${EnrollService.typeName}/GetCABundle`,
    ]);
    const raw: Record<string, string[]> = {};
    for (const n of names) {
      const addr = addrs.get(n)!;
      const socket = await tlsFrom(addr, "127.0.2.1");
      const session = http2.connect(`https://${addr}`, { createConnection: () => socket });
      session.on("error", () => undefined);
      try {
        for (const path of methods) {
          for (let k = 0; k < 5; k++) {
            const body = rnd.bytes(rnd.int(512));
            const header = Buffer.alloc(5);
            header[0] = rnd.pick([0, 0, 0, 1, 0xff]);
            header.writeUInt32BE(rnd.pick([body.length, body.length, rnd.int(2 ** 32)]), 1);
            const status = await rawCall(session, path, Buffer.concat([header, body]));
            const list = raw[path] ?? [];
            list.push(status);
            raw[path] = list;
          }
        }
      } finally {
        session.destroy();
      }
    }
    for (const [path, statuses] of Object.entries(raw)) {
      if (publicMethods.has(path)) {
        for (const s of statuses) {
          assert.ok(
            [
              "0",
              String(Code.InvalidArgument),
              String(Code.Unauthenticated),
              String(Code.ResourceExhausted),
              String(Code.Internal),
              String(Code.Unimplemented),
            ].includes(s),
            `${path}: grpc-status ${s}`,
          );
        }
      } else {
        assert.deepEqual(
          new Set(statuses),
          new Set([String(Code.Unauthenticated)]),
          `${path} refuses without a certificate`,
        );
      }
    }

    // (c) The token parser: random strings and mutations of a real token.
    let parsed = 0;
    for (let k = 0; k < 20_000; k++) {
      const base =
        rnd.next() < 0.5 ? token : rnd.str(rnd.int(200), "abcdefABCDEF0123456789:-_=+/ \n");
      const chars = [...base];
      for (let m = rnd.int(4); m > 0; m--) {
        const at = rnd.int(chars.length + 1);
        const op = rnd.int(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, String.fromCharCode(rnd.int(128)));
        else chars[at] = String.fromCharCode(rnd.int(0x3000));
      }
      const text = chars.join("");
      try {
        parseJoinToken(text);
        parsed++;
      } catch (err) {
        assert.ok(
          err instanceof JoinTokenError,
          `parseJoinToken threw ${String(err)} for ${JSON.stringify(text)}`,
        );
        const secret = text.split(":")[0] ?? "";
        if (secret.length >= 8)
          assert.equal(err.message.includes(secret), false, "never echoes the secret");
      }
    }
    assert.ok(parsed > 0, "some mutations still parse: the fuzz reaches past the first check");

    // After the fuzz: nothing changed but the audit trail, and every node serves.
    assert.deepEqual(
      withoutLive(await c.cliJson("n1", ["cluster", "nodes"])),
      withoutLive(nodesBefore),
    );
    assert.deepEqual(await c.cliJson("n1", ["token", "list"]), tokensBefore);
    assert.deepEqual(await configSnapshot(c, leader.node), kvBefore);
    const auditAfter = await auditEvents(c, "n1");
    assert.deepEqual(auditAfter.slice(0, auditBefore.length), auditBefore);
    assert.deepEqual(
      [...new Set(auditAfter.slice(auditBefore.length).map((e) => e.kind))].filter(
        (k) => k !== "enroll.failed",
      ),
      [],
    );
    const current = await readTlsDir(c.homeOf("n1"));
    for (const [i, n] of names.entries()) {
      const p = c.byName.get(n)!;
      assert.ok(p.running, `${n} still runs`);
      assert.equal(p.pid, pids[i]);
      const addr = addrs.get(n)!;
      assert.deepEqual(await probeHealth(addr, current), { ok: true }, `${n} still serves`);
    }
    assert.ok(enrollCodes.length === 240);
  });
});

/** Audit events as `cluster audit -o json` prints them. */
async function auditEvents(
  c: Cluster,
  name: string,
): Promise<{ kind: string; at: string; details: Record<string, string> }[]> {
  return (
    await c.cliJson<{ events: { kind: string; at: string; details: Record<string, string> }[] }>(
      name,
      ["cluster", "audit"],
    )
  ).events;
}

/** `cluster nodes -o json` has live fields (health, last contact); compare the rest. */
function withoutLive(x: unknown): unknown {
  return JSON.parse(JSON.stringify(x), (k, v) =>
    k === "healthy" || k === "lastContactMs" || k === "healthError" || k === "role" ? undefined : v,
  );
}

/** One raw gRPC POST; resolves to the grpc-status (trailers or trailers-only), or a failure text. */
function rawCall(session: http2.ClientHttp2Session, path: string, body: Buffer): Promise<string> {
  return new Promise((resolve) => {
    let status = "";
    const s = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
    });
    s.setTimeout(10_000, () => s.close(http2.constants.NGHTTP2_CANCEL));
    s.on("response", (h) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
    });
    s.on("trailers", (h) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
    });
    s.on("error", (e) => resolve(`error: ${e.message}`));
    s.on("close", () => resolve(status || `no status (rst ${s.rstCode})`));
    s.resume();
    s.end(body);
  });
}

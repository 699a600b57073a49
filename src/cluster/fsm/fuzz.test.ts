import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CertificateInput, CommandInput } from "./commands.js";
import { encodeCommand } from "./commands.js";
import type { ConfigFsm } from "./config-fsm.js";
import { createConfigFsm } from "./config-fsm.js";
import { DAY, fakeCert, fakeHash, initCommand, T0 } from "./testing.js";

/** mulberry32: a small seeded PRNG, so a failure replays from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.FSM_FUZZ_SEED ?? 20_251_129);
const ITERATIONS = Number(process.env.FSM_FUZZ_ITERATIONS ?? 2500);

function generator(rand: () => number) {
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  // Mostly plausible values, sometimes bad ones.
  const choose = <T>(good: readonly T[], bad: readonly T[]): T =>
    rand() < 0.85 ? pick(good) : pick(bad);
  const init = initCommand() as Extract<CommandInput, { kind: "initCluster" }>;
  const cas = [init.ca, fakeCert("ca2"), fakeCert("ca3")];
  const certFor = (signer: CertificateInput, i: number) =>
    fakeCert(`c${i}`, { signer: signer.fingerprint! });
  const certs = [init.clusterCert, ...[0, 1, 2, 3].map((i) => certFor(pick(cas), i))];
  const goodFps = [...cas, ...certs].map((c) => c.fingerprint!);
  const badFps = ["", "f".repeat(64), "nothex"];
  const goodNodes = ["n1", "n2", "n3", "n4", "n5", "n6"];
  const badNodes = ["", "bad id", "ghost"];
  const goodTokens = ["tok-reusable", "t1", "t2", "t3", "t4"];
  const badTokens = ["", "bad id"];
  const secrets = ["reusable", "s1", "s2", "s3", "other"];
  const goodKeys = ["a", "a/b", "c"];
  const badKeys = ["", "bad key", "k".repeat(300)];
  const times = [T0, T0 + 1, T0 + DAY, T0 + 2 * DAY, T0 + 400 * DAY];
  const hash = () => (rand() < 0.9 ? fakeHash(pick(secrets)) : new Uint8Array(int(40)));

  const nodeId = () => choose(goodNodes, badNodes);
  const tokenId = () => choose(goodTokens, badTokens);
  const key = () => choose(goodKeys, badKeys);

  /** A token id and secret hash that verify right now, if the pool has one. */
  function usableToken(fsm: ConfigFsm): { tokenId: string; secretHash: Uint8Array } {
    for (const seed of secrets) {
      const v = fsm.verifyToken(fakeHash(seed), T0);
      if (v.ok) return { tokenId: v.token.id, secretHash: fakeHash(seed) };
    }
    return { tokenId: tokenId(), secretHash: hash() };
  }

  function command(fsm: ConfigFsm): CommandInput {
    const rotating = fsm.tls()?.rotation?.newFingerprint;
    const fp = () => (rotating !== undefined && rand() < 0.6 ? rotating : choose(goodFps, badFps));
    switch (int(16)) {
      case 0:
        return rand() < 0.2 ? init : { kind: "putKey", key: key(), value: "x" };
      case 1:
        return {
          kind: "putKey",
          key: key(),
          value: rand() < 0.95 ? `v${int(100)}` : new Uint8Array(70_000),
          ...(rand() < 0.5 ? { expectedRevision: int(5) } : {}),
        };
      case 2:
        return {
          kind: "deleteKey",
          key: key(),
          ...(rand() < 0.5 ? { expectedRevision: int(5) } : {}),
        };
      case 3:
        // Half the time with a token that is usable now, so enrollments get far.
        return {
          kind: "enrollNode",
          ...(rand() < 0.5 ? usableToken(fsm) : { tokenId: tokenId(), secretHash: hash() }),
          node: {
            id: nodeId(),
            name: rand() < 0.9 ? "x" : pick(["", "a\nb"]),
            clusterAddr: rand() < 0.9 ? "10.0.0.1:1" : pick(["nope", ""]),
          },
          suffrageAsked: pick(["voter", "nonvoter"] as const),
          sourceAddr: "10.9.9.9:9",
        };
      case 4:
        return {
          kind: "createToken",
          tokenId: tokenId(),
          secretHash: hash(),
          expiresAtUnixMs: rand() < 0.5 ? null : pick(times),
          maxUses: rand() < 0.5 ? null : int(3),
          nonvoterOnly: rand() < 0.3,
          label: pick(["", "l", "\u0007"]),
        };
      case 5:
        return { kind: "revokeToken", tokenId: tokenId() };
      case 6:
        return { kind: "rotateReusableToken", newTokenId: tokenId(), newSecretHash: hash() };
      case 7:
        return { kind: "beginRotation", cert: pick([...certs, ...cas]) };
      case 8:
        return { kind: "ackRotation", nodeId: nodeId(), fingerprint: fp() };
      case 9:
        return { kind: "finishRotation", fingerprint: fp(), force: rand() < 0.3 };
      case 10:
        return { kind: "addTrustedCa", ca: pick([...cas, ...certs]), activate: rand() < 0.5 };
      case 11:
        return { kind: "retireCa", fingerprint: fp() };
      case 12:
        return { kind: "setActiveCa", fingerprint: fp() };
      case 13:
        return {
          kind: "removeNode",
          nodeId: nodeId(),
          force: rand() < 0.3,
          ...(rand() < 0.3 ? { beginRotation: { cert: pick(certs) } } : {}),
          ...(rand() < 0.3
            ? { rotateReusableToken: { newTokenId: tokenId(), newSecretHash: hash() } }
            : {}),
        };
      case 14:
        return {
          kind: "updateNode",
          nodeId: nodeId(),
          ...(rand() < 0.7 ? { suffrage: pick(["voter", "nonvoter"] as const) } : {}),
          ...(rand() < 0.3 ? { apiAddr: pick(["1.1.1.1:80", "bad"]) } : {}),
        };
      default:
        return {
          kind: "recordAudit",
          auditKind: choose(["enroll.failed"], ["Bad", ""]),
          details: rand() < 0.5 ? { source: "x" } : { reason: "-----BEGIN PRIVATE KEY-----" },
        };
    }
  }

  /** One input: random bytes, a corrupted valid command, or a valid-shaped command. */
  return function next(fsm: ConfigFsm): Uint8Array {
    const env = {
      atUnixMs: pick(times),
      actor: rand() < 0.9 ? "t" : pick(["", "x\u0000"]),
      originNodeId: "n1",
    };
    const r = rand();
    if (r < 0.1) {
      const out = new Uint8Array(int(200));
      for (let i = 0; i < out.length; i++) out[i] = int(256);
      return out;
    }
    const bytes = encodeCommand(env, command(fsm));
    if (r < 0.25 && bytes.length > 0) {
      const out = rand() < 0.3 ? bytes.slice(0, int(bytes.length)) : bytes.slice();
      for (let k = 0, n = 1 + int(3); k < n && out.length > 0; k++) {
        const at = int(out.length);
        out[at] = (out[at] ?? 0) ^ (1 << int(8));
      }
      return out;
    }
    return bytes;
  };
}

/** Calls every read accessor; none may throw whatever the state. */
function readEverything(fsm: ConfigFsm): void {
  fsm.cluster();
  fsm.tls();
  fsm.tokens(T0);
  fsm.nodes();
  fsm.list();
  fsm.audit();
  fsm.verifyToken(fakeHash("s1"), T0);
  fsm.secrets.tlsMaterial();
  fsm.secrets.activeCa();
}

describe("config FSM: seeded fuzz", () => {
  it(`random bytes and random commands never throw; rejections change nothing (seed ${SEED})`, () => {
    const next = generator(prng(SEED));
    const a = createConfigFsm();
    const twin = createConfigFsm();
    // Start from an initialised cluster so most commands have something to act on.
    const first = encodeCommand({ atUnixMs: T0, actor: "t" }, initCommand());
    a.apply(first, 1);
    twin.apply(first, 1);
    let accepted = 0;
    let rejected = 0;
    for (let i = 2; i <= ITERATIONS; i++) {
      const data = next(a);
      const before = Buffer.from(a.snapshot());
      const r = a.apply(data, i);
      const t = twin.apply(data, i);
      assert.deepEqual(t, r, `replicas disagree at iteration ${i} (seed ${SEED})`);
      if (r.ok) {
        accepted++;
      } else {
        rejected++;
        assert.ok(r.message.length > 0);
        assert.deepEqual(
          Buffer.from(a.snapshot()),
          before,
          `rejected command changed the state at iteration ${i} (seed ${SEED}): ${r.message}`,
        );
      }
      readEverything(a);
    }
    console.log(`fuzz seed ${SEED}: ${accepted} accepted, ${rejected} rejected`);
    // The fuzz is only meaningful if both outcomes happen a fair amount.
    assert.ok(accepted > ITERATIONS / 20, `only ${accepted} commands were accepted`);
    assert.ok(rejected > ITERATIONS / 4, `only ${rejected} commands were rejected`);
    assert.deepEqual(Buffer.from(twin.snapshot()), Buffer.from(a.snapshot()));
    const restored = createConfigFsm();
    restored.restore(a.snapshot());
    assert.deepEqual(Buffer.from(restored.snapshot()), Buffer.from(a.snapshot()));
  });
});

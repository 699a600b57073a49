/**
 * Test helpers for the config FSM (used by its tests; usable by other modules'
 * tests). The FSM does not parse X.509 (see cert-check.ts), so the
 * "certificates" here are well-formed PEM blocks around deterministic bytes:
 * enough to exercise every FSM rule without a PKI. Not for production use.
 */

import { createHash } from "node:crypto";
import type { CertificateInput, CommandEnvelope, CommandInput } from "./commands.js";
import { encodeCommand } from "./commands.js";
import type { ConfigFsm } from "./config-fsm.js";
import { createConfigFsm } from "./config-fsm.js";
import type { FsmErrorCode, FsmOk, FsmRejection, FsmResult } from "./result.js";

/** A fixed "now" for tests: 2023-11-14T22:13:20Z. */
export const T0 = 1_700_000_000_000;
export const DAY = 24 * 60 * 60 * 1000;
export const YEAR = 365 * DAY;

/** Deterministic bytes derived from a seed string. */
export function seededBytes(seed: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let block = createHash("sha256").update(seed).digest();
  for (let i = 0; i < n; i += 32) {
    out.set(block.subarray(0, Math.min(32, n - i)), i);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

/** A PEM block of `label` around deterministic bytes. */
export function fakePem(label: string, seed: string): string {
  const b64 = Buffer.from(seededBytes(`${label}:${seed}`, 300)).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Lowercase hex SHA-256 of a PEM block's DER: what the FSM computes. */
export function pemFingerprint(pem: string): string {
  const b64 = pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  return createHash("sha256").update(Buffer.from(b64, "base64")).digest("hex");
}

/** A certificate input valid for ten years from T0. */
export function fakeCert(
  seed: string,
  opts: { signer?: string; notAfterUnixMs?: number; notBeforeUnixMs?: number } = {},
): CertificateInput {
  const certPem = fakePem("CERTIFICATE", seed);
  return {
    certPem,
    keyPem: fakePem("PRIVATE KEY", seed),
    fingerprint: pemFingerprint(certPem),
    notBeforeUnixMs: opts.notBeforeUnixMs ?? T0 - DAY,
    notAfterUnixMs: opts.notAfterUnixMs ?? T0 + 10 * YEAR,
    ...(opts.signer === undefined ? {} : { signerFingerprint: opts.signer }),
  };
}

/** A 32-byte "secret hash" for a seed. */
export function fakeHash(seed: string): Uint8Array {
  return createHash("sha256").update(`secret:${seed}`).digest();
}

/** The InitCluster used by most tests: CA "ca1", cert "cert1", token "tok-reusable", node n1. */
export function initCommand(): CommandInput {
  const ca = fakeCert("ca1");
  return {
    kind: "initCluster",
    clusterId: "c-0001",
    clusterName: "test-cluster",
    createdAtUnixMs: T0,
    ca,
    clusterCert: fakeCert("cert1", { signer: ca.fingerprint! }),
    reusableTokenId: "tok-reusable",
    reusableTokenSecretHash: fakeHash("reusable"),
    node: { id: "n1", name: "node-1", clusterAddr: "127.0.0.1:4566", apiAddr: "127.0.0.1:4564" },
  };
}

/**
 * Drives an FSM with increasing indexes. `ok` asserts success; `rejected`
 * asserts a rejection with the given code *and* that the snapshot bytes did not
 * change.
 */
export class FsmDriver {
  readonly fsm: ConfigFsm;
  index = 0;
  now = T0;

  constructor(fsm: ConfigFsm = createConfigFsm()) {
    this.fsm = fsm;
  }

  env(actor = "test", at = this.now): CommandEnvelope {
    return { atUnixMs: at, actor, originNodeId: "n1" };
  }

  raw(data: Uint8Array): FsmResult {
    this.index += 1;
    return this.fsm.apply(data, this.index);
  }

  run(cmd: CommandInput, at = this.now, actor = "test"): FsmResult {
    return this.raw(encodeCommand(this.env(actor, at), cmd));
  }

  ok(cmd: CommandInput, at = this.now, actor = "test"): FsmOk {
    const r = this.run(cmd, at, actor);
    if (!r.ok) throw new Error(`expected ${cmd.kind} to apply, got ${r.code}: ${r.message}`);
    return r;
  }

  rejected(code: FsmErrorCode, cmd: CommandInput | Uint8Array, at = this.now): FsmRejection {
    const before = this.fsm.snapshot();
    const r = cmd instanceof Uint8Array ? this.raw(cmd) : this.run(cmd, at);
    if (r.ok) throw new Error(`expected a rejection (${code}), got ok: ${JSON.stringify(r.value)}`);
    if (r.code !== code) throw new Error(`expected ${code}, got ${r.code}: ${r.message}`);
    const after = this.fsm.snapshot();
    if (!Buffer.from(before).equals(Buffer.from(after))) {
      throw new Error(`rejected command changed the state: ${r.message}`);
    }
    return r;
  }

  /** Init plus enrolled nodes n2..nN (voters via UpdateNode), using the reusable token. */
  static cluster(nodes = 1): FsmDriver {
    const d = new FsmDriver();
    d.ok(initCommand());
    for (let i = 2; i <= nodes; i++) {
      d.ok({
        kind: "enrollNode",
        tokenId: "tok-reusable",
        secretHash: fakeHash("reusable"),
        node: { id: `n${i}`, name: `node-${i}`, clusterAddr: `127.0.0.${i}:4566` },
        sourceAddr: `127.0.0.${i}:50000`,
      });
      d.ok({ kind: "updateNode", nodeId: `n${i}`, suffrage: "voter" });
    }
    return d;
  }
}

/** A script that touches every part of the state, leaving a rotation in flight. */
export function richScript(): [CommandInput, number][] {
  const cert2 = fakeCert("cert2");
  const steps: [CommandInput, number][] = [[initCommand(), T0]];
  for (let i = 2; i <= 4; i++) {
    steps.push([
      {
        kind: "enrollNode",
        tokenId: "tok-reusable",
        secretHash: fakeHash("reusable"),
        node: { id: `n${i}`, name: `node-${i}`, clusterAddr: `127.0.0.${i}:4566` },
        suffrageAsked: i === 4 ? "nonvoter" : "voter",
        sourceAddr: `127.0.0.${i}:5000`,
      },
      T0 + i,
    ]);
  }
  steps.push([{ kind: "updateNode", nodeId: "n2", suffrage: "voter" }, T0 + 10]);
  steps.push([
    {
      kind: "createToken",
      tokenId: "tz",
      secretHash: fakeHash("tz"),
      maxUses: 2,
      expiresAtUnixMs: T0 + 1e6,
      label: "z",
    },
    T0 + 11,
  ]);
  steps.push([
    { kind: "createToken", tokenId: "ta", secretHash: fakeHash("ta"), nonvoterOnly: true },
    T0 + 12,
  ]);
  steps.push([{ kind: "revokeToken", tokenId: "ta" }, T0 + 13]);
  // Keys inserted out of order on purpose: the snapshot must sort them.
  for (const k of ["zeta", "alpha/2", "alpha/1", "m"]) {
    steps.push([{ kind: "putKey", key: k, value: `v-${k}` }, T0 + 20]);
  }
  steps.push([{ kind: "deleteKey", key: "m" }, T0 + 21]);
  steps.push([{ kind: "addTrustedCa", ca: fakeCert("ca2") }, T0 + 30]);
  steps.push([{ kind: "beginRotation", cert: cert2 }, T0 + 40]);
  steps.push([{ kind: "ackRotation", nodeId: "n3", fingerprint: cert2.fingerprint! }, T0 + 41]);
  steps.push([{ kind: "ackRotation", nodeId: "n1", fingerprint: cert2.fingerprint! }, T0 + 42]);
  steps.push([
    {
      kind: "recordAudit",
      auditKind: "enroll.failed",
      details: { source: "x:1", reason: "mismatch" },
    },
    T0 + 50,
  ]);
  return steps;
}

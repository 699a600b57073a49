/**
 * Serialises the whole FSM state to a ConfigState protobuf and back. Every list
 * is written in a fixed order (sorted by id, key or fingerprint; audit by
 * sequence) and protobuf-es writes fields in field-number order, so equal states
 * give equal bytes: replicas can compare snapshots, and snapshot → restore →
 * snapshot is byte-identical.
 *
 * Decoding validates as it goes and builds a new state; a bad snapshot throws
 * FsmRestoreError and the caller's state is untouched.
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type {
  ConfigCertificate,
  ConfigState_InstalledCert,
} from "../../gen/gastrolog/v1/config_pb.js";
import {
  ConfigCertificateSchema,
  ConfigStateSchema,
  ConfigSuffrage,
  ConfigTokenKind,
} from "../../gen/gastrolog/v1/config_pb.js";
import { suffrageOf } from "./handlers-nodes.js";
import { FsmRestoreError } from "./result.js";
import type { CertRecord, FsmState, InstalledCertRecord } from "./state.js";
import { compareStrings, emptyState, sortedKeys } from "./state.js";
import type { Suffrage, TokenKind } from "./views.js";

/** The snapshot layout this code writes and reads. */
export const SNAPSHOT_FORMAT_VERSION = 1;

const big = (n: number): bigint => BigInt(n);

function certMsg(c: CertRecord): ConfigCertificate {
  return create(ConfigCertificateSchema, {
    certPem: c.certPem,
    keyPem: c.keyPem,
    fingerprint: c.fingerprint,
    notBeforeUnixMs: big(c.notBeforeUnixMs),
    notAfterUnixMs: big(c.notAfterUnixMs),
    signerFingerprint: c.signerFingerprint,
  });
}

function installedMsg(i: InstalledCertRecord | null) {
  return i === null
    ? undefined
    : { cert: certMsg(i.cert), installedAtUnixMs: big(i.installedAtUnixMs) };
}

function suffrageMsg(s: Suffrage): ConfigSuffrage {
  return s === "voter" ? ConfigSuffrage.VOTER : ConfigSuffrage.NONVOTER;
}

function tokenKindMsg(k: TokenKind): ConfigTokenKind {
  return k === "reusable" ? ConfigTokenKind.REUSABLE : ConfigTokenKind.SHORT_LIVED;
}

/** The state as snapshot bytes. */
export function encodeState(s: FsmState): Uint8Array {
  const msg = create(ConfigStateSchema, {
    formatVersion: SNAPSHOT_FORMAT_VERSION,
    stateIndex: big(s.stateIndex),
    cluster:
      s.cluster === null
        ? undefined
        : {
            id: s.cluster.id,
            name: s.cluster.name,
            createdAtUnixMs: big(s.cluster.createdAtUnixMs),
          },
    cas: sortedKeys(s.cas).map((fp) => {
      const ca = s.cas.get(fp)!;
      return { cert: certMsg(ca.cert), addedAtUnixMs: big(ca.addedAtUnixMs) };
    }),
    activeCaFingerprint: s.activeCa,
    currentCert: installedMsg(s.current),
    previousCert: installedMsg(s.previous),
    rotation:
      s.rotation === null
        ? undefined
        : {
            newFingerprint: s.rotation.newFingerprint,
            oldFingerprint: s.rotation.oldFingerprint,
            begunAtUnixMs: big(s.rotation.begunAtUnixMs),
            begunIndex: big(s.rotation.begunIndex),
            ackedBy: [...s.rotation.ackedBy].sort(compareStrings),
          },
    lastRotation:
      s.lastRotation === null
        ? undefined
        : {
            fingerprint: s.lastRotation.fingerprint,
            finishedAtUnixMs: big(s.lastRotation.finishedAtUnixMs),
            forced: s.lastRotation.forced,
            leftBehind: [...s.lastRotation.leftBehind],
          },
    tokens: sortedKeys(s.tokens).map((id) => {
      const t = s.tokens.get(id)!;
      return {
        id: t.id,
        secretHash: t.secretHash,
        kind: tokenKindMsg(t.kind),
        createdAtUnixMs: big(t.createdAtUnixMs),
        createdBy: t.createdBy,
        expiresAtUnixMs: big(t.expiresAtUnixMs),
        maxUses: t.maxUses,
        uses: t.uses,
        nonvoterOnly: t.nonvoterOnly,
        label: t.label,
        revoked: t.revoked,
        revokedAtUnixMs: big(t.revokedAtUnixMs),
        revokedBy: t.revokedBy,
        revokedReason: t.revokedReason,
        lastUsedAtUnixMs: big(t.lastUsedAtUnixMs),
      };
    }),
    nodes: sortedKeys(s.nodes).map((id) => {
      const n = s.nodes.get(id)!;
      return {
        info: { id: n.id, name: n.name, clusterAddr: n.clusterAddr, apiAddr: n.apiAddr },
        suffrage: suffrageMsg(n.suffrage),
        suffrageAsked: suffrageMsg(n.suffrageAsked),
        nonvoterForced: n.nonvoterForced,
        joinedAtUnixMs: big(n.joinedAtUnixMs),
        joinedIndex: big(n.joinedIndex),
        viaTokenId: n.viaTokenId,
        sourceAddr: n.sourceAddr,
      };
    }),
    kv: sortedKeys(s.kv).map((key) => {
      const r = s.kv.get(key)!;
      return {
        key,
        value: r.value,
        createRevision: big(r.createRevision),
        modRevision: big(r.modRevision),
        version: big(r.version),
      };
    }),
    revision: big(s.revision),
    audit: s.audit.map((a) => ({
      seq: big(a.seq),
      atUnixMs: big(a.atUnixMs),
      index: big(a.index),
      nodeId: a.nodeId,
      actor: a.actor,
      kind: a.kind,
      details: a.details.map(([key, value]) => ({ key, value })),
    })),
    auditNextSeq: big(s.auditNextSeq),
  });
  return toBinary(ConfigStateSchema, msg);
}

function fail(message: string): never {
  throw new FsmRestoreError(`invalid config snapshot: ${message}`);
}

function num(what: string, v: bigint): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} is out of range`);
  return Number(v);
}

function strictlySorted(what: string, keys: readonly string[]): void {
  for (let i = 1; i < keys.length; i++) {
    if (compareStrings(keys[i - 1]!, keys[i]!) >= 0) fail(`${what} are not sorted and unique`);
  }
}

function certRecord(what: string, c: ConfigCertificate | undefined): CertRecord {
  if (c === undefined) fail(`${what} is missing`);
  return {
    certPem: c.certPem,
    keyPem: c.keyPem,
    fingerprint: c.fingerprint,
    notBeforeUnixMs: num(`${what} not-before`, c.notBeforeUnixMs),
    notAfterUnixMs: num(`${what} not-after`, c.notAfterUnixMs),
    signerFingerprint: c.signerFingerprint,
  };
}

function installed(what: string, i: ConfigState_InstalledCert | undefined) {
  if (i === undefined) return null;
  return {
    cert: certRecord(what, i.cert),
    installedAtUnixMs: num(`${what} installed-at`, i.installedAtUnixMs),
  };
}

function suffrage(what: string, v: ConfigSuffrage): Suffrage {
  return suffrageOf(v) ?? fail(`${what} has an invalid suffrage`);
}

/** Snapshot bytes back to a state. Throws FsmRestoreError on anything invalid. */
export function decodeState(bytes: Uint8Array): FsmState {
  let msg: ReturnType<typeof fromBinary<typeof ConfigStateSchema>>;
  try {
    msg = fromBinary(ConfigStateSchema, bytes);
  } catch {
    fail("it does not decode");
  }
  if (msg.formatVersion !== SNAPSHOT_FORMAT_VERSION) {
    fail(`format version ${msg.formatVersion} is not supported`);
  }
  const s = emptyState();
  s.stateIndex = num("state index", msg.stateIndex);
  if (msg.cluster !== undefined) {
    s.cluster = {
      id: msg.cluster.id,
      name: msg.cluster.name,
      createdAtUnixMs: num("cluster created-at", msg.cluster.createdAtUnixMs),
    };
  }
  strictlySorted(
    "CAs",
    msg.cas.map((c) => c.cert?.fingerprint ?? ""),
  );
  for (const ca of msg.cas) {
    const cert = certRecord("CA", ca.cert);
    s.cas.set(cert.fingerprint, { cert, addedAtUnixMs: num("CA added-at", ca.addedAtUnixMs) });
  }
  s.activeCa = msg.activeCaFingerprint;
  s.current = installed("current certificate", msg.currentCert);
  s.previous = installed("previous certificate", msg.previousCert);
  if (msg.rotation !== undefined) {
    strictlySorted("rotation acks", msg.rotation.ackedBy);
    s.rotation = {
      newFingerprint: msg.rotation.newFingerprint,
      oldFingerprint: msg.rotation.oldFingerprint,
      begunAtUnixMs: num("rotation begun-at", msg.rotation.begunAtUnixMs),
      begunIndex: num("rotation begun-index", msg.rotation.begunIndex),
      ackedBy: new Set(msg.rotation.ackedBy),
    };
  }
  if (msg.lastRotation !== undefined) {
    s.lastRotation = {
      fingerprint: msg.lastRotation.fingerprint,
      finishedAtUnixMs: num("last rotation finished-at", msg.lastRotation.finishedAtUnixMs),
      forced: msg.lastRotation.forced,
      leftBehind: [...msg.lastRotation.leftBehind],
    };
  }
  strictlySorted(
    "tokens",
    msg.tokens.map((t) => t.id),
  );
  for (const t of msg.tokens) {
    const kind: TokenKind =
      t.kind === ConfigTokenKind.REUSABLE
        ? "reusable"
        : t.kind === ConfigTokenKind.SHORT_LIVED
          ? "short_lived"
          : fail(`token ${t.id} has an invalid kind`);
    s.tokens.set(t.id, {
      id: t.id,
      secretHash: t.secretHash.slice(),
      kind,
      createdAtUnixMs: num("token created-at", t.createdAtUnixMs),
      createdBy: t.createdBy,
      expiresAtUnixMs: num("token expiry", t.expiresAtUnixMs),
      maxUses: t.maxUses,
      uses: t.uses,
      nonvoterOnly: t.nonvoterOnly,
      label: t.label,
      revoked: t.revoked,
      revokedAtUnixMs: num("token revoked-at", t.revokedAtUnixMs),
      revokedBy: t.revokedBy,
      revokedReason: t.revokedReason,
      lastUsedAtUnixMs: num("token last-used", t.lastUsedAtUnixMs),
    });
  }
  strictlySorted(
    "nodes",
    msg.nodes.map((n) => n.info?.id ?? ""),
  );
  for (const n of msg.nodes) {
    const info = n.info ?? fail("a node has no info");
    s.nodes.set(info.id, {
      id: info.id,
      name: info.name,
      clusterAddr: info.clusterAddr,
      apiAddr: info.apiAddr,
      suffrage: suffrage(`node ${info.id}`, n.suffrage),
      suffrageAsked: suffrage(`node ${info.id}`, n.suffrageAsked),
      nonvoterForced: n.nonvoterForced,
      joinedAtUnixMs: num("node joined-at", n.joinedAtUnixMs),
      joinedIndex: num("node joined-index", n.joinedIndex),
      viaTokenId: n.viaTokenId,
      sourceAddr: n.sourceAddr,
    });
  }
  strictlySorted(
    "keys",
    msg.kv.map((e) => e.key),
  );
  for (const e of msg.kv) {
    s.kv.set(e.key, {
      value: e.value.slice(),
      createRevision: num("create revision", e.createRevision),
      modRevision: num("mod revision", e.modRevision),
      version: num("version", e.version),
    });
    s.kvBytes += e.key.length + e.value.length;
  }
  s.revision = num("revision", msg.revision);
  let lastSeq = 0;
  for (const a of msg.audit) {
    const seq = num("audit seq", a.seq);
    if (seq <= lastSeq) fail("audit entries are not in sequence order");
    lastSeq = seq;
    const keys = a.details.map((d) => d.key);
    strictlySorted("audit detail keys", keys);
    s.audit.push({
      seq,
      atUnixMs: num("audit time", a.atUnixMs),
      index: num("audit index", a.index),
      nodeId: a.nodeId,
      actor: a.actor,
      kind: a.kind,
      details: a.details.map((d) => [d.key, d.value]),
    });
  }
  s.auditNextSeq = num("audit next seq", msg.auditNextSeq);
  if (s.auditNextSeq <= lastSeq) fail("audit next sequence is behind its entries");
  checkConsistency(s);
  return s;
}

/** Cross-field invariants every state produced by apply satisfies. */
function checkConsistency(s: FsmState): void {
  if (s.cluster === null) {
    if (s.current !== null || s.cas.size + s.nodes.size + s.tokens.size + s.kv.size > 0) {
      fail("state without a cluster identity has cluster data");
    }
    return;
  }
  if (s.current === null) fail("initialised state has no cluster certificate");
  if (!s.cas.has(s.activeCa)) fail("the active CA is not trusted");
  if ((s.rotation === null) !== (s.previous === null)) {
    fail("previous certificate and rotation disagree");
  }
  if (s.rotation !== null && s.rotation.newFingerprint !== s.current.cert.fingerprint) {
    fail("rotation target is not the current certificate");
  }
  for (const r of s.kv.values()) {
    if (r.modRevision > s.revision) fail("a key's revision is ahead of the global revision");
  }
}

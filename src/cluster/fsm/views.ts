/**
 * Public, secret-free views of the config FSM's state: what `cluster status`,
 * `token list`, `cert show`, `config get` and the audit listing show. Each view
 * is built field by field from the internal records (a whitelist), so adding a
 * secret field to a record cannot make it appear here by accident. Views are
 * fresh copies: mutating one does not touch the FSM.
 */

import type {
  AuditRecord,
  CaRecord,
  CertRecord,
  FsmState,
  InstalledCertRecord,
  KvRecord,
  NodeRecord,
  TokenRecord,
} from "./state.js";
import { pendingMembers, sortedKeys } from "./state.js";

/** How a node votes. */
export type Suffrage = "voter" | "nonvoter";

/** `reusable`: the cluster token from bootstrap (rotatable). `short_lived`: API-created. */
export type TokenKind = "reusable" | "short_lived";

/** Whether a token can be used at a given time, and if not, why. */
export type TokenState = "usable" | "revoked" | "expired" | "used_up";

/** The cluster's identity. */
export interface ClusterIdentity {
  readonly id: string;
  readonly name: string;
  readonly createdAtUnixMs: number;
}

/** A certificate's public facts (PEM of the certificate only, never the key). */
export interface CertView {
  readonly fingerprint: string;
  readonly certPem: string;
  readonly notBeforeUnixMs: number;
  readonly notAfterUnixMs: number;
  /** The CA that signed it. */
  readonly signerFingerprint: string;
  readonly installedAtUnixMs: number;
}

/** A trusted CA's public facts. */
export interface CaView {
  readonly fingerprint: string;
  readonly certPem: string;
  readonly notBeforeUnixMs: number;
  readonly notAfterUnixMs: number;
  /** The CA that signs new cluster certificates. */
  readonly active: boolean;
  readonly addedAtUnixMs: number;
}

/** A certificate rotation in flight. */
export interface RotationView {
  readonly newFingerprint: string;
  readonly oldFingerprint: string;
  readonly begunAtUnixMs: number;
  readonly begunIndex: number;
  /** Members that have applied the begin, sorted. */
  readonly ackedBy: readonly string[];
  /** Current members that have not: they hold the rotation open. Sorted. */
  readonly pending: readonly string[];
}

/** How the last finished rotation ended. */
export interface LastRotationView {
  readonly fingerprint: string;
  readonly finishedAtUnixMs: number;
  readonly forced: boolean;
  /** Members that had not acked when a forced finish happened; they must re-enroll. */
  readonly leftBehind: readonly string[];
}

/** The TLS state without key material. */
export interface TlsView {
  /** Sorted by fingerprint. */
  readonly trustedCas: readonly CaView[];
  readonly activeCaFingerprint: string;
  readonly current: CertView;
  /** The certificate being rotated away from; non-null only while a rotation is in flight. */
  readonly previous: CertView | null;
  readonly rotation: RotationView | null;
  /** Fingerprints a peer may present: current, plus previous during a rotation. */
  readonly acceptedFingerprints: readonly string[];
  readonly lastRotation: LastRotationView | null;
}

/** A join token without its secret hash. */
export interface TokenView {
  readonly id: string;
  readonly kind: TokenKind;
  readonly label: string;
  readonly createdAtUnixMs: number;
  readonly createdBy: string;
  /** null = never expires. */
  readonly expiresAtUnixMs: number | null;
  /** null = unlimited. */
  readonly maxUses: number | null;
  readonly uses: number;
  /** null = unlimited. */
  readonly usesLeft: number | null;
  readonly nonvoterOnly: boolean;
  readonly revoked: boolean;
  readonly revokedAtUnixMs: number | null;
  readonly revokedBy: string;
  /** "revoked" (by an operator) or "rotated" (replaced by a newer reusable token). */
  readonly revokedReason: string;
  readonly lastUsedAtUnixMs: number | null;
  /** Judged at the time the caller passed in. */
  readonly state: TokenState;
}

/** A recorded member. */
export interface NodeView {
  readonly id: string;
  readonly name: string;
  readonly clusterAddr: string;
  readonly apiAddr: string;
  /** As recorded after the last promotion/demotion (enrolled nodes start as nonvoters). */
  readonly suffrage: Suffrage;
  readonly suffrageAsked: Suffrage;
  /** It asked for voter but its token was nonvoter-only. */
  readonly nonvoterForced: boolean;
  /** What the node should become once caught up: voter unless asked or forced otherwise. */
  readonly targetSuffrage: Suffrage;
  readonly joinedAtUnixMs: number;
  readonly joinedIndex: number;
  /** The token used to join; "" for the bootstrap node. */
  readonly viaTokenId: string;
  readonly sourceAddr: string;
}

/** A configuration entry. */
export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** Global revision at which the key was created (reset by delete + put). */
  readonly createRevision: number;
  /** Global revision of its last write: the value compare-and-set checks. */
  readonly modRevision: number;
  /** Writes since creation (1 after the first put). */
  readonly version: number;
}

/** One security event. */
export interface AuditEntry {
  /** Increasing, never reused; gaps mean entries dropped from the ring. */
  readonly seq: number;
  readonly atUnixMs: number;
  /** Raft index of the entry that recorded it. */
  readonly index: number;
  /** The node that proposed the command. */
  readonly nodeId: string;
  readonly actor: string;
  /** e.g. "node.enrolled", "token.created", "cert.rotation_begun", "enroll.failed". */
  readonly kind: string;
  readonly details: Readonly<Record<string, string>>;
}

/** Whether a token is usable at `atUnixMs`; the same rule apply uses for EnrollNode. */
export function tokenState(t: TokenRecord, atUnixMs: number): TokenState {
  if (t.revoked) return "revoked";
  if (t.expiresAtUnixMs !== 0 && atUnixMs >= t.expiresAtUnixMs) return "expired";
  if (t.maxUses !== 0 && t.uses >= t.maxUses) return "used_up";
  return "usable";
}

/** The suffrage a node should end up with. */
export function targetSuffrage(n: NodeRecord): Suffrage {
  return n.nonvoterForced ? "nonvoter" : n.suffrageAsked;
}

export function tokenView(t: TokenRecord, nowUnixMs: number): TokenView {
  return {
    id: t.id,
    kind: t.kind,
    label: t.label,
    createdAtUnixMs: t.createdAtUnixMs,
    createdBy: t.createdBy,
    expiresAtUnixMs: t.expiresAtUnixMs === 0 ? null : t.expiresAtUnixMs,
    maxUses: t.maxUses === 0 ? null : t.maxUses,
    uses: t.uses,
    usesLeft: t.maxUses === 0 ? null : Math.max(0, t.maxUses - t.uses),
    nonvoterOnly: t.nonvoterOnly,
    revoked: t.revoked,
    revokedAtUnixMs: t.revoked ? t.revokedAtUnixMs : null,
    revokedBy: t.revokedBy,
    revokedReason: t.revokedReason,
    lastUsedAtUnixMs: t.lastUsedAtUnixMs === 0 ? null : t.lastUsedAtUnixMs,
    state: tokenState(t, nowUnixMs),
  };
}

export function nodeView(n: NodeRecord): NodeView {
  return {
    id: n.id,
    name: n.name,
    clusterAddr: n.clusterAddr,
    apiAddr: n.apiAddr,
    suffrage: n.suffrage,
    suffrageAsked: n.suffrageAsked,
    nonvoterForced: n.nonvoterForced,
    targetSuffrage: targetSuffrage(n),
    joinedAtUnixMs: n.joinedAtUnixMs,
    joinedIndex: n.joinedIndex,
    viaTokenId: n.viaTokenId,
    sourceAddr: n.sourceAddr,
  };
}

export function kvEntry(key: string, r: KvRecord): KvEntry {
  return {
    key,
    value: r.value.slice(),
    createRevision: r.createRevision,
    modRevision: r.modRevision,
    version: r.version,
  };
}

export function auditEntry(a: AuditRecord): AuditEntry {
  const details: Record<string, string> = {};
  for (const [k, v] of a.details) details[k] = v;
  return {
    seq: a.seq,
    atUnixMs: a.atUnixMs,
    index: a.index,
    nodeId: a.nodeId,
    actor: a.actor,
    kind: a.kind,
    details,
  };
}

function certView(c: CertRecord, installedAtUnixMs: number): CertView {
  return {
    fingerprint: c.fingerprint,
    certPem: c.certPem,
    notBeforeUnixMs: c.notBeforeUnixMs,
    notAfterUnixMs: c.notAfterUnixMs,
    signerFingerprint: c.signerFingerprint,
    installedAtUnixMs,
  };
}

function installedView(i: InstalledCertRecord): CertView {
  return certView(i.cert, i.installedAtUnixMs);
}

function caView(c: CaRecord, active: boolean): CaView {
  return {
    fingerprint: c.cert.fingerprint,
    certPem: c.cert.certPem,
    notBeforeUnixMs: c.cert.notBeforeUnixMs,
    notAfterUnixMs: c.cert.notAfterUnixMs,
    active,
    addedAtUnixMs: c.addedAtUnixMs,
  };
}

/** The TLS view, or null before InitCluster. */
export function tlsView(s: FsmState): TlsView | null {
  if (s.current === null) return null;
  const r = s.rotation;
  const accepted = [s.current.cert.fingerprint];
  if (r !== null && s.previous !== null) accepted.push(s.previous.cert.fingerprint);
  return {
    trustedCas: sortedKeys(s.cas).map((fp) => caView(s.cas.get(fp)!, fp === s.activeCa)),
    activeCaFingerprint: s.activeCa,
    current: installedView(s.current),
    previous: s.previous === null ? null : installedView(s.previous),
    rotation:
      r === null
        ? null
        : {
            newFingerprint: r.newFingerprint,
            oldFingerprint: r.oldFingerprint,
            begunAtUnixMs: r.begunAtUnixMs,
            begunIndex: r.begunIndex,
            ackedBy: [...r.ackedBy].sort(),
            pending: pendingMembers(s),
          },
    acceptedFingerprints: accepted,
    lastRotation:
      s.lastRotation === null
        ? null
        : {
            fingerprint: s.lastRotation.fingerprint,
            finishedAtUnixMs: s.lastRotation.finishedAtUnixMs,
            forced: s.lastRotation.forced,
            leftBehind: [...s.lastRotation.leftBehind],
          },
  };
}

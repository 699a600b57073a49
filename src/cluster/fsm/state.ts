/**
 * The config FSM's in-memory state. Internal to src/cluster/fsm: it holds
 * private keys and token hashes, so nothing outside this directory sees these
 * records; readers get the types in views.ts (no secrets) or secrets.ts
 * (explicitly secret, redacted when printed).
 */

import type { Suffrage, TokenKind } from "./views.js";

/** A certificate with its key and the facts the FSM keeps about it. */
export interface CertRecord {
  certPem: string;
  keyPem: string;
  fingerprint: string;
  notBeforeUnixMs: number;
  notAfterUnixMs: number;
  /** The CA that signed it; "" for a CA certificate. */
  signerFingerprint: string;
}

export interface CaRecord {
  cert: CertRecord;
  addedAtUnixMs: number;
}

export interface InstalledCertRecord {
  cert: CertRecord;
  installedAtUnixMs: number;
}

export interface RotationRecord {
  newFingerprint: string;
  oldFingerprint: string;
  begunAtUnixMs: number;
  begunIndex: number;
  ackedBy: Set<string>;
}

export interface LastRotationRecord {
  fingerprint: string;
  finishedAtUnixMs: number;
  forced: boolean;
  leftBehind: string[];
}

export interface TokenRecord {
  id: string;
  secretHash: Uint8Array;
  kind: TokenKind;
  createdAtUnixMs: number;
  createdBy: string;
  /** 0 = never expires. */
  expiresAtUnixMs: number;
  /** 0 = unlimited. */
  maxUses: number;
  uses: number;
  nonvoterOnly: boolean;
  label: string;
  revoked: boolean;
  revokedAtUnixMs: number;
  revokedBy: string;
  revokedReason: string;
  /** 0 = never used. */
  lastUsedAtUnixMs: number;
}

export interface NodeRecord {
  id: string;
  name: string;
  clusterAddr: string;
  apiAddr: string;
  /** What the node currently is, as recorded after promotion/demotion. */
  suffrage: Suffrage;
  /** What the node asked for when it joined. */
  suffrageAsked: Suffrage;
  /** It asked for voter but its token allowed only nonvoter. */
  nonvoterForced: boolean;
  joinedAtUnixMs: number;
  joinedIndex: number;
  /** "" for the bootstrap node. */
  viaTokenId: string;
  sourceAddr: string;
}

export interface KvRecord {
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
}

export interface AuditRecord {
  seq: number;
  atUnixMs: number;
  index: number;
  nodeId: string;
  actor: string;
  kind: string;
  /** Sorted by key. */
  details: [string, string][];
}

export interface ClusterRecord {
  id: string;
  name: string;
  createdAtUnixMs: number;
}

/** The whole state. Maps are iterated only after sorting wherever order is observable. */
export interface FsmState {
  stateIndex: number;
  cluster: ClusterRecord | null;
  cas: Map<string, CaRecord>;
  activeCa: string;
  current: InstalledCertRecord | null;
  previous: InstalledCertRecord | null;
  rotation: RotationRecord | null;
  lastRotation: LastRotationRecord | null;
  tokens: Map<string, TokenRecord>;
  nodes: Map<string, NodeRecord>;
  kv: Map<string, KvRecord>;
  /** Sum of key lengths and value lengths, kept to enforce maxKvTotalBytes. */
  kvBytes: number;
  revision: number;
  audit: AuditRecord[];
  auditNextSeq: number;
}

/** A fresh, uninitialised state. */
export function emptyState(): FsmState {
  return {
    stateIndex: 0,
    cluster: null,
    cas: new Map(),
    activeCa: "",
    current: null,
    previous: null,
    rotation: null,
    lastRotation: null,
    tokens: new Map(),
    nodes: new Map(),
    kv: new Map(),
    kvBytes: 0,
    revision: 0,
    audit: [],
    auditNextSeq: 1,
  };
}

/** Keys of a map in code-unit order: the one iteration order used for anything observable. */
export function sortedKeys<V>(m: ReadonlyMap<string, V>): string[] {
  return [...m.keys()].sort(compareStrings);
}

/** Locale-independent string order (code units), identical on every replica. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Members that have not acked the rotation in flight, sorted; computed from current nodes. */
export function pendingMembers(s: FsmState): string[] {
  const r = s.rotation;
  if (r === null) return [];
  return sortedKeys(s.nodes).filter((id) => !r.ackedBy.has(id));
}

/** Number of nodes recorded as voters. */
export function voterCount(s: FsmState): number {
  let n = 0;
  for (const node of s.nodes.values()) if (node.suffrage === "voter") n++;
  return n;
}

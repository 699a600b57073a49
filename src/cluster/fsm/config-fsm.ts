/**
 * The config FSM: the replicated configuration state machine every node runs
 * behind Raft (DESIGN "Config FSM"). The Raft runtime drives it the way
 * hashicorp/raft drives an FSM: `apply(data, index)` for each committed normal
 * entry, `snapshot()` for compaction, `restore(bytes)` when a snapshot is
 * installed. The server reads it through the accessors.
 *
 * Determinism: apply depends only on the state and the command bytes. It reads
 * no clock (commands carry the proposer's time), no randomness, and iterates
 * maps only in sorted order wherever the order is observable.
 */

import { fromBinary } from "@bufbuild/protobuf";
import type { ConfigCommand } from "../../gen/gastrolog/v1/config_pb.js";
import { ConfigCommandSchema } from "../../gen/gastrolog/v1/config_pb.js";
import type { ApplyContext, Plan } from "./context.js";
import { isPlan } from "./context.js";
import type { FsmEvent, KvEvent } from "./events.js";
import { initCluster, recordAudit } from "./handlers-cluster.js";
import { deleteKey, putKey } from "./handlers-kv.js";
import { enrollNode, removeNode, updateNode } from "./handlers-nodes.js";
import {
  ackRotation,
  addTrustedCa,
  beginRotation,
  finishRotation,
  retireCa,
  setActiveCa,
} from "./handlers-tls.js";
import { createToken, hashesEqual, revokeToken, rotateReusableToken } from "./handlers-tokens.js";
import { FSM_LIMITS } from "./limits.js";
import type { CommandKind, FsmRejection, FsmResult, Refusal, TokenRefusal } from "./result.js";
import { FsmInvariantError, refuse } from "./result.js";
import { Secret } from "./secret.js";
import type { KeyedCert, TlsMaterial } from "./secrets.js";
import { decodeState, encodeState } from "./snapshot-codec.js";
import type { CertRecord, FsmState } from "./state.js";
import { emptyState, sortedKeys } from "./state.js";
import { checkId, checkText, toCount } from "./validate.js";
import type {
  AuditEntry,
  ClusterIdentity,
  KvEntry,
  NodeView,
  TlsView,
  TokenView,
} from "./views.js";
import { auditEntry, kvEntry, nodeView, tlsView, tokenState, tokenView } from "./views.js";

/** Options for createConfigFsm. */
export interface ConfigFsmOptions {
  /**
   * Called when a subscriber throws. Listener errors never affect the state or
   * other listeners. Default: a process warning.
   */
  readonly onListenerError?: (err: unknown) => void;
}

/** The answer of `verifyToken`. The reason is for the audit trail only. */
export type TokenCheck =
  | { readonly ok: true; readonly token: TokenView }
  | { readonly ok: false; readonly reason: TokenRefusal };

/** Secret-bearing reads. Keys come wrapped in `Secret` (redacted when printed). */
export interface ConfigFsmSecrets {
  /** What this node listens/dials with and the enrollment reply carries; null before init. */
  tlsMaterial(): TlsMaterial | null;
  /** The active CA with its key, for signing a new cluster certificate; null before init. */
  activeCa(): KeyedCert | null;
}

/** The config FSM. Not safe for re-entrant use from inside a listener. */
export interface ConfigFsm {
  /**
   * Applies one committed entry. Never throws for bad `data`: malformed or
   * invalid commands come back as a rejection and change nothing. Throws
   * FsmInvariantError if `index` is not a positive integer above the last one
   * (a runtime bug).
   */
  apply(data: Uint8Array, index: number): FsmResult;
  /** The whole state as deterministic bytes. */
  snapshot(): Uint8Array;
  /**
   * Replaces the state with a snapshot's. Throws FsmRestoreError (state unchanged) on
   * bad bytes. `raftIndex`, if given, is the Raft index the snapshot covers: later
   * applies must be above it (the snapshot's own state index may be lower, since
   * rejected entries do not move it).
   */
  restore(bytes: Uint8Array, raftIndex?: number): void;

  /** Raft index of the last entry that changed the state (0 = none). */
  stateIndex(): number;
  /** Highest index passed to apply since creation or restore (rejected entries included). */
  lastAppliedIndex(): number;
  /** True once InitCluster has been applied. */
  initialized(): boolean;

  cluster(): ClusterIdentity | null;
  /** Secret-free TLS view; null before init. */
  tls(): TlsView | null;

  /** Tokens without their hashes, sorted by id; `state` judged at `nowUnixMs`. */
  tokens(nowUnixMs: number): TokenView[];
  token(id: string, nowUnixMs: number): TokenView | null;
  /**
   * Finds the token whose secret hash equals `secretHash` and says whether it is
   * usable at `nowUnixMs`. Compares against every token in constant time per
   * comparison (no early exit), so timing does not reveal which token matched.
   */
  verifyToken(secretHash: Uint8Array, nowUnixMs: number): TokenCheck;

  /** Members sorted by id. */
  nodes(): NodeView[];
  node(id: string): NodeView | null;

  /** A configuration entry, or null. */
  get(key: string): KvEntry | null;
  /** Entries whose key starts with `prefix` ("" = all), sorted by key. */
  list(prefix?: string): KvEntry[];
  /** The global configuration revision (0 = nothing written yet). */
  revision(): number;
  /**
   * Calls `listener` after each applied put/delete under `prefix`, and with a
   * `reset` event after a restore. Returns an unsubscribe function.
   */
  watch(prefix: string, listener: (event: KvEvent) => void): () => void;
  /** Calls `listener` with every event after each applied command and restore. */
  subscribe(listener: (event: FsmEvent) => void): () => void;

  /** The audit trail, oldest first (bounded; see FSM_LIMITS.auditEntries). */
  audit(): AuditEntry[];

  /** Reads that return key material. Kept apart so listing code cannot reach them by accident. */
  readonly secrets: ConfigFsmSecrets;
}

type Dispatch = (s: FsmState, cmd: ConfigCommand["kind"], ctx: ApplyContext) => Refusal | Plan;

// One switch instead of a table so TypeScript checks every oneof case.
const dispatch: Dispatch = (s, kind, ctx) => {
  switch (kind.case) {
    case "initCluster":
      return initCluster(s, kind.value, ctx);
    case "putKey":
      return putKey(s, kind.value, ctx);
    case "deleteKey":
      return deleteKey(s, kind.value, ctx);
    case "enrollNode":
      return enrollNode(s, kind.value, ctx);
    case "createToken":
      return createToken(s, kind.value, ctx);
    case "revokeToken":
      return revokeToken(s, kind.value, ctx);
    case "rotateReusableToken":
      return rotateReusableToken(s, kind.value, ctx);
    case "beginRotation":
      return beginRotation(s, kind.value, ctx);
    case "ackRotation":
      return ackRotation(s, kind.value, ctx);
    case "finishRotation":
      return finishRotation(s, kind.value, ctx);
    case "addTrustedCa":
      return addTrustedCa(s, kind.value, ctx);
    case "retireCa":
      return retireCa(s, kind.value, ctx);
    case "setActiveCa":
      return setActiveCa(s, kind.value, ctx);
    case "removeNode":
      return removeNode(s, kind.value, ctx);
    case "updateNode":
      return updateNode(s, kind.value, ctx);
    case "recordAudit":
      return recordAudit(s, kind.value, ctx);
    case undefined:
      return refuse("invalid_argument", "the command has no known kind");
  }
};

function keyed(c: CertRecord): KeyedCert {
  return {
    fingerprint: c.fingerprint,
    certPem: c.certPem,
    keyPem: new Secret(c.keyPem),
    notAfterUnixMs: c.notAfterUnixMs,
  };
}

/** Creates an empty (uninitialised) config FSM. */
export function createConfigFsm(options: ConfigFsmOptions = {}): ConfigFsm {
  let s = emptyState();
  let lastIndex = 0;
  const listeners = new Set<(event: FsmEvent) => void>();
  const onListenerError =
    options.onListenerError ??
    ((err: unknown) => {
      process.emitWarning(`config FSM listener failed: ${String(err)}`);
    });

  function emit(events: readonly FsmEvent[]): void {
    for (const event of events) {
      for (const l of [...listeners]) {
        try {
          l(event);
        } catch (err) {
          onListenerError(err);
        }
      }
    }
  }

  function reject(index: number, command: CommandKind | null, r: Refusal): FsmRejection {
    return r.tokenRefusal === undefined
      ? { ok: false, index, command, code: r.code, message: r.message }
      : {
          ok: false,
          index,
          command,
          code: r.code,
          message: r.message,
          tokenRefusal: r.tokenRefusal,
        };
  }

  function apply(data: Uint8Array, index: number): FsmResult {
    if (!Number.isSafeInteger(index) || index < 1) {
      throw new FsmInvariantError(`apply called with invalid index ${index}`);
    }
    if (index <= lastIndex) {
      throw new FsmInvariantError(`apply called with index ${index} after ${lastIndex}`);
    }
    lastIndex = index;
    if (data.length > FSM_LIMITS.maxCommandBytes) {
      return reject(
        index,
        null,
        refuse("invalid_argument", `command is larger than ${FSM_LIMITS.maxCommandBytes} bytes`),
      );
    }
    let cmd: ConfigCommand;
    try {
      cmd = fromBinary(ConfigCommandSchema, data);
    } catch {
      return reject(index, null, refuse("invalid_argument", "command does not decode"));
    }
    const kind = cmd.kind.case ?? null;
    const at = toCount(cmd.atUnixMs);
    if (at === null || at === 0) {
      return reject(index, kind, refuse("invalid_argument", "command time is missing or invalid"));
    }
    const badEnvelope =
      checkText("actor", cmd.actor, FSM_LIMITS.maxNameChars, true) ??
      (cmd.originNodeId === "" ? null : checkId("origin node id", cmd.originNodeId));
    if (badEnvelope !== null) return reject(index, kind, refuse("invalid_argument", badEnvelope));
    if (s.cluster === null && kind !== "initCluster" && kind !== null) {
      return reject(index, kind, refuse("failed_precondition", "the cluster is not initialised"));
    }
    const ctx: ApplyContext = {
      index,
      atUnixMs: at,
      actor: cmd.actor,
      originNodeId: cmd.originNodeId,
      events: [],
    };
    const planned = dispatch(s, cmd.kind, ctx);
    if (!isPlan(planned)) return reject(index, kind, planned);
    let value: ReturnType<Plan>;
    try {
      value = planned();
    } catch (err) {
      // A plan runs only after validation; failing here means a bug that may
      // have left the state half-changed. Stop rather than diverge quietly.
      throw new FsmInvariantError(`applying ${kind} at index ${index} failed: ${String(err)}`);
    }
    s.stateIndex = index;
    emit(ctx.events);
    return { ok: true, index, value };
  }

  function restore(bytes: Uint8Array, raftIndex?: number): void {
    if (raftIndex !== undefined && (!Number.isSafeInteger(raftIndex) || raftIndex < 0)) {
      throw new FsmInvariantError(`restore called with invalid index ${raftIndex}`);
    }
    const next = decodeState(bytes);
    s = next;
    lastIndex = Math.max(next.stateIndex, raftIndex ?? 0);
    emit([
      { type: "restored", stateIndex: next.stateIndex },
      { type: "kv", event: { type: "reset", revision: next.revision } },
    ]);
  }

  function verifyToken(secretHash: Uint8Array, nowUnixMs: number): TokenCheck {
    let match: string | null = null;
    for (const id of sortedKeys(s.tokens)) {
      // No early exit: every token is compared, each in constant time.
      if (hashesEqual(s.tokens.get(id)!.secretHash, secretHash) && match === null) match = id;
    }
    if (match === null) return { ok: false, reason: "unknown" };
    const t = s.tokens.get(match)!;
    const state = tokenState(t, nowUnixMs);
    return state === "usable"
      ? { ok: true, token: tokenView(t, nowUnixMs) }
      : { ok: false, reason: state };
  }

  const secrets: ConfigFsmSecrets = {
    tlsMaterial() {
      if (s.current === null) return null;
      const rotating = s.rotation !== null && s.previous !== null;
      return {
        trustedCaCertsPem: sortedKeys(s.cas).map((fp) => s.cas.get(fp)!.cert.certPem),
        current: keyed(s.current.cert),
        previous: rotating && s.previous !== null ? keyed(s.previous.cert) : null,
        acceptedFingerprints:
          rotating && s.previous !== null
            ? [s.current.cert.fingerprint, s.previous.cert.fingerprint]
            : [s.current.cert.fingerprint],
      };
    },
    activeCa() {
      const ca = s.cas.get(s.activeCa);
      return ca === undefined ? null : keyed(ca.cert);
    },
  };

  return {
    apply,
    snapshot: () => encodeState(s),
    restore,
    stateIndex: () => s.stateIndex,
    lastAppliedIndex: () => lastIndex,
    initialized: () => s.cluster !== null,
    cluster: () => (s.cluster === null ? null : { ...s.cluster }),
    tls: () => tlsView(s),
    tokens: (nowUnixMs) =>
      sortedKeys(s.tokens).map((id) => tokenView(s.tokens.get(id)!, nowUnixMs)),
    token: (id, nowUnixMs) => {
      const t = s.tokens.get(id);
      return t === undefined ? null : tokenView(t, nowUnixMs);
    },
    verifyToken,
    nodes: () => sortedKeys(s.nodes).map((id) => nodeView(s.nodes.get(id)!)),
    node: (id) => {
      const n = s.nodes.get(id);
      return n === undefined ? null : nodeView(n);
    },
    get: (key) => {
      const r = s.kv.get(key);
      return r === undefined ? null : kvEntry(key, r);
    },
    list: (prefix = "") =>
      sortedKeys(s.kv)
        .filter((k) => k.startsWith(prefix))
        .map((k) => kvEntry(k, s.kv.get(k)!)),
    revision: () => s.revision,
    watch(prefix, listener) {
      const l = (e: FsmEvent): void => {
        if (e.type !== "kv") return;
        if (e.event.type === "reset" || e.event.key.startsWith(prefix)) listener(e.event);
      };
      listeners.add(l);
      return () => {
        listeners.delete(l);
      };
    },
    subscribe(listener) {
      const l = (e: FsmEvent): void => listener(e);
      listeners.add(l);
      return () => {
        listeners.delete(l);
      };
    },
    audit: () => s.audit.map(auditEntry),
    secrets,
  };
}

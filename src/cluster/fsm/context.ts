/**
 * The shape every command handler has: it validates against the current state
 * and returns either a refusal (nothing changed) or a plan, a closure that
 * performs the change and cannot fail on valid input. Splitting check from
 * change is what makes "a rejected command changes nothing" hold by
 * construction, and lets one entry combine several plans (RemoveNode with a
 * rotation) all-or-nothing.
 */

import type { FsmEvent } from "./events.js";
import { FSM_LIMITS } from "./limits.js";
import type { FsmValue, Refusal } from "./result.js";
import type { FsmState } from "./state.js";
import { compareStrings } from "./state.js";

/** The command envelope plus where effects are collected. */
export interface ApplyContext {
  readonly index: number;
  /** The proposer's clock: the only time apply uses. */
  readonly atUnixMs: number;
  readonly actor: string;
  readonly originNodeId: string;
  /** Emitted after the whole command has been applied. */
  readonly events: FsmEvent[];
}

/** A validated change, ready to perform. */
export type Plan = () => FsmValue;

/** Validates `cmd` against `s`; returns a refusal or a plan. Must not mutate. */
export type Handler<C> = (s: FsmState, cmd: C, ctx: ApplyContext) => Refusal | Plan;

/** Narrows a handler's answer. */
export function isPlan(r: Refusal | Plan): r is Plan {
  return typeof r === "function";
}

/** Appends to the bounded audit ring. Call only from inside a plan. */
export function appendAudit(
  s: FsmState,
  ctx: ApplyContext,
  kind: string,
  details: Readonly<Record<string, string>>,
): number {
  const seq = s.auditNextSeq;
  s.auditNextSeq = seq + 1;
  s.audit.push({
    seq,
    atUnixMs: ctx.atUnixMs,
    index: ctx.index,
    nodeId: ctx.originNodeId,
    actor: ctx.actor,
    kind,
    details: Object.entries(details).sort((a, b) => compareStrings(a[0], b[0])),
  });
  const excess = s.audit.length - FSM_LIMITS.auditEntries;
  if (excess > 0) s.audit.splice(0, excess);
  ctx.events.push({ type: "audit", index: ctx.index, seq, kind });
  return seq;
}

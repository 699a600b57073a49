import type { ConfState, HardState, SnapshotMeta } from "../types.js";

/**
 * Validation of the small JSON records the storage keeps (hard state, snapshot metadata).
 * Both come from disk (where damage must be detected) and from the caller (where a bad
 * value must be refused before anything is written), so one parser serves both.
 */

function int(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new Error(`${what} is not a non-negative integer`);
  }
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw new Error(`${what} is not a string`);
  return v;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new Error(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function ids(v: unknown, what: string): string[] {
  if (!Array.isArray(v)) throw new Error(`${what} is not a list`);
  return v.map((x, i) => str(x, `${what}[${i}]`));
}

/** Parses and checks a hard state; returns a fresh plain object. */
export function parseHardState(v: unknown): HardState {
  const o = obj(v, "hard state");
  return {
    term: int(o.term, "term"),
    vote: str(o.vote, "vote"),
    commit: int(o.commit, "commit"),
  };
}

/** Parses and checks a membership record. */
export function parseConfState(v: unknown): ConfState {
  const o = obj(v, "conf");
  const addrsIn = obj(o.addrs, "conf.addrs");
  const addrs: Record<string, string> = {};
  for (const [k, a] of Object.entries(addrsIn)) addrs[k] = str(a, `conf.addrs.${k}`);
  return {
    voters: ids(o.voters, "conf.voters"),
    learners: ids(o.learners, "conf.learners"),
    addrs,
  };
}

/** Parses and checks snapshot metadata (index, term, membership). */
export function parseSnapshotMeta(v: unknown): SnapshotMeta {
  const o = obj(v, "snapshot meta");
  return { index: int(o.index, "index"), term: int(o.term, "term"), conf: parseConfState(o.conf) };
}

/** True when two snapshot metas describe the same point in the log. */
export function sameMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  return a.index === b.index && a.term === b.term;
}

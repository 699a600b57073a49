import type { Message, MessageType } from "../../src/raft/types.js";
import { mixHash } from "./entry-ident.js";

/** What a simulator step did. Numbers keep the hot path free of string building. */
export const Act = {
  deliver: 1,
  drop: 2,
  duplicate: 3,
  tick: 4,
  ready: 5,
  propose: 6,
  read: 7,
  partition: 8,
  heal: 9,
  crash: 10,
  restart: 11,
  confChange: 12,
  transfer: 13,
  compact: 14,
  overflow: 15,
  note: 16,
} as const;

/** One of the {@link Act} codes. */
export type ActCode = (typeof Act)[keyof typeof Act];

const ACT_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Act).map(([k, v]) => [v, k]),
);

const MSG_CODES: Record<MessageType, number> = {
  app: 1,
  appResp: 2,
  vote: 3,
  voteResp: 4,
  preVote: 5,
  preVoteResp: 6,
  heartbeat: 7,
  heartbeatResp: 8,
  snap: 9,
  timeoutNow: 10,
};

/**
 * The run's action log: a ring of the last `keep` actions (printed on a violation) and
 * a hash over all of them (the determinism test compares it between runs of a seed).
 */
export interface Trace {
  /** Hash of every action so far. */
  readonly hash: number;
  /** Number of actions recorded. */
  readonly count: number;
  /** Records an action on node `node` (an id, or "" for the cluster). */
  add(step: number, act: ActCode, node: string, a: number, m?: Message, note?: string): void;
  /** The last actions, oldest first, one line each. */
  lines(): string[];
}

/** Creates a trace keeping the last `keep` actions. */
export function createTrace(keep: number): Trace {
  const steps = new Array<number>(keep).fill(0);
  const acts = new Array<number>(keep).fill(0);
  const nodes = new Array<string>(keep).fill("");
  const nums = new Array<number>(keep).fill(0);
  const msgs = new Array<Message | undefined>(keep).fill(undefined);
  const notes = new Array<string | undefined>(keep).fill(undefined);
  let count = 0;
  let hash = 0;
  return {
    get hash() {
      return hash;
    },
    get count() {
      return count;
    },
    add(step, act, node, a, m, note) {
      const k = count % keep;
      steps[k] = step;
      acts[k] = act;
      nodes[k] = node;
      nums[k] = a;
      msgs[k] = m;
      notes[k] = note;
      count++;
      let n = 0;
      for (let i = 0; i < node.length; i++) n = n * 31 + node.charCodeAt(i);
      hash = mixHash(hash, act, a, n);
      if (m !== undefined) {
        hash = mixHash(hash, MSG_CODES[m.type], m.term, m.index + m.entries.length * 65536);
      }
    },
    lines() {
      const out: string[] = [];
      const start = Math.max(0, count - keep);
      for (let i = start; i < count; i++) {
        const k = i % keep;
        const m = msgs[k];
        let line = `#${steps[k]} ${ACT_NAMES[acts[k]!]} ${nodes[k]}`;
        if (nums[k] !== 0) line += ` ${nums[k]}`;
        if (m !== undefined) line += ` ${formatMessage(m)}`;
        if (notes[k] !== undefined) line += ` ${notes[k]}`;
        out.push(line);
      }
      return out;
    },
  };
}

/** A one-line summary of a message for traces. */
export function formatMessage(m: Message): string {
  let s = `${m.type} ${m.from}->${m.to} t${m.term}`;
  if (m.type === "app" || m.type === "appResp" || m.type === "vote" || m.type === "preVote") {
    s += ` lt${m.logTerm} i${m.index}`;
  }
  if (m.entries.length > 0) {
    const first = m.entries[0]!;
    const last = m.entries[m.entries.length - 1]!;
    s += ` e[${first.index}..${last.index}]@t${last.term}`;
  }
  if (m.commit !== 0) s += ` c${m.commit}`;
  if (m.reject) s += ` reject hint=${m.rejectHint}/${m.logTerm}`;
  if (m.snapshot) s += ` snap@${m.snapshot.meta.index}/t${m.snapshot.meta.term}`;
  if (m.context.length > 0) s += ` ctx${m.context.length}`;
  return s;
}

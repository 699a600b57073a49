import type { ConfChange, ConfState, NodeId } from "../types.js";
import { RaftError } from "./errors.js";

/** The membership of a brand-new joining node: nobody, not even itself. */
export const EMPTY_CONF: ConfState = Object.freeze({
  voters: Object.freeze([]) as readonly NodeId[],
  learners: Object.freeze([]) as readonly NodeId[],
  addrs: Object.freeze({}),
});

/** The role `id` has in `conf`. */
export function memberRole(conf: ConfState, id: NodeId): "voter" | "learner" | undefined {
  if (conf.voters.includes(id)) return "voter";
  if (conf.learners.includes(id)) return "learner";
  return undefined;
}

/**
 * Checks a single-server change against the configuration it would apply to. Throws a
 * RaftError (UnknownNode, InvalidConfChange) for a change that is redundant, names
 * nobody, or would leave the cluster without a voter.
 */
export function validateConfChange(conf: ConfState, change: ConfChange): void {
  if (typeof change.nodeId !== "string" || change.nodeId === "") {
    throw new RaftError("InvalidConfChange", "a membership change needs a node id");
  }
  const role = memberRole(conf, change.nodeId);
  switch (change.type) {
    case "addVoter":
      if (role === "voter") {
        throw new RaftError("InvalidConfChange", `${change.nodeId} is already a voter`);
      }
      return;
    case "addLearner":
      if (role === "learner") {
        throw new RaftError("InvalidConfChange", `${change.nodeId} is already a nonvoter`);
      }
      if (role === "voter" && conf.voters.length === 1) {
        throw new RaftError("InvalidConfChange", "cannot demote the last voter");
      }
      return;
    case "removeNode":
      if (role === undefined) {
        throw new RaftError("UnknownNode", `${change.nodeId} is not a member`);
      }
      if (role === "voter" && conf.voters.length === 1) {
        throw new RaftError("InvalidConfChange", "cannot remove the last voter");
      }
      return;
    default:
      throw new RaftError("InvalidConfChange", "unknown membership change type");
  }
}

function without(list: readonly NodeId[], id: NodeId): NodeId[] {
  return list.filter((x) => x !== id);
}

function withSorted(list: readonly NodeId[], id: NodeId): NodeId[] {
  const out = without(list, id);
  out.push(id);
  out.sort();
  return out;
}

/**
 * Applies a single-server change and returns the new configuration (the input is not
 * modified). Redundant changes are applied as no-ops, so that replaying a committed
 * change is harmless.
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const id = change.nodeId;
  switch (change.type) {
    case "addVoter":
      return {
        voters: withSorted(conf.voters, id),
        learners: without(conf.learners, id),
        addrs: { ...conf.addrs, [id]: change.addr || conf.addrs[id] || "" },
      };
    case "addLearner":
      return {
        voters: without(conf.voters, id),
        learners: withSorted(conf.learners, id),
        addrs: { ...conf.addrs, [id]: change.addr || conf.addrs[id] || "" },
      };
    case "removeNode": {
      const addrs: Record<NodeId, string> = { ...conf.addrs };
      delete addrs[id];
      return { voters: without(conf.voters, id), learners: without(conf.learners, id), addrs };
    }
  }
}

/** Checks that a configuration is well formed (sorted, disjoint, no empty ids). */
export function validateConfState(conf: ConfState): void {
  const seen = new Set<NodeId>();
  for (const list of [conf.voters, conf.learners]) {
    for (let i = 0; i < list.length; i++) {
      const id = list[i]!;
      if (id === "" || seen.has(id)) {
        throw new RaftError("InvalidConfChange", `configuration lists "${id}" twice or empty`);
      }
      if (i > 0 && list[i - 1]! > id) {
        throw new RaftError("InvalidConfChange", "configuration ids must be sorted");
      }
      seen.add(id);
    }
  }
}

/**
 * Configuration entries: a versioned key/value namespace in the style of etcd.
 * One global revision counts every write; each key remembers the revision that
 * created it and the one that last modified it. Compare-and-set compares the
 * key's mod revision, with 0 meaning "must not exist".
 */

import type {
  ConfigCommand_DeleteKey,
  ConfigCommand_PutKey,
} from "../../gen/gastrolog/v1/config_pb.js";
import type { Handler } from "./context.js";
import { FSM_LIMITS } from "./limits.js";
import { refuse } from "./result.js";
import { checkKey, toCount } from "./validate.js";

export const putKey: Handler<ConfigCommand_PutKey> = (s, cmd, ctx) => {
  const badKey = checkKey(cmd.key);
  if (badKey !== null) return refuse("invalid_argument", badKey);
  if (cmd.value.length > FSM_LIMITS.maxValueBytes) {
    return refuse(
      "invalid_argument",
      `value of ${cmd.key} is ${cmd.value.length} bytes; the limit is ${FSM_LIMITS.maxValueBytes}`,
    );
  }
  const existing = s.kv.get(cmd.key);
  if (cmd.expectedRevision !== undefined) {
    const expected = toCount(cmd.expectedRevision);
    if (expected === null) return refuse("invalid_argument", "expected revision is invalid");
    if (expected === 0 && existing !== undefined) {
      return refuse(
        "failed_precondition",
        `${cmd.key} already exists (revision ${existing.modRevision})`,
      );
    }
    if (expected !== 0 && existing === undefined) {
      return refuse(
        "failed_precondition",
        `${cmd.key} does not exist (expected revision ${expected})`,
      );
    }
    if (expected !== 0 && existing !== undefined && existing.modRevision !== expected) {
      return refuse(
        "failed_precondition",
        `${cmd.key} is at revision ${existing.modRevision}, not ${expected}`,
      );
    }
  }
  const oldBytes = existing === undefined ? 0 : cmd.key.length + existing.value.length;
  const newTotal = s.kvBytes - oldBytes + cmd.key.length + cmd.value.length;
  if (newTotal > FSM_LIMITS.maxKvTotalBytes) {
    return refuse(
      "resource_exhausted",
      `configuration store would exceed ${FSM_LIMITS.maxKvTotalBytes} bytes`,
    );
  }
  return () => {
    const revision = s.revision + 1;
    s.revision = revision;
    const value = cmd.value.slice();
    const version = existing === undefined ? 1 : existing.version + 1;
    s.kv.set(cmd.key, {
      value,
      createRevision: existing === undefined ? revision : existing.createRevision,
      modRevision: revision,
      version,
    });
    s.kvBytes = newTotal;
    ctx.events.push({
      type: "kv",
      event: { type: "put", key: cmd.key, value: value.slice(), revision, index: ctx.index },
    });
    return { kind: "putKey", key: cmd.key, revision, version };
  };
};

export const deleteKey: Handler<ConfigCommand_DeleteKey> = (s, cmd, ctx) => {
  const badKey = checkKey(cmd.key);
  if (badKey !== null) return refuse("invalid_argument", badKey);
  const existing = s.kv.get(cmd.key);
  if (cmd.expectedRevision !== undefined) {
    const expected = toCount(cmd.expectedRevision);
    if (expected === null || expected === 0) {
      return refuse(
        "invalid_argument",
        "expected revision for a delete must be a positive revision",
      );
    }
    if (existing !== undefined && existing.modRevision !== expected) {
      return refuse(
        "failed_precondition",
        `${cmd.key} is at revision ${existing.modRevision}, not ${expected}`,
      );
    }
  }
  if (existing === undefined) return refuse("not_found", `${cmd.key} does not exist`);
  return () => {
    const revision = s.revision + 1;
    s.revision = revision;
    s.kv.delete(cmd.key);
    s.kvBytes -= cmd.key.length + existing.value.length;
    ctx.events.push({
      type: "kv",
      event: { type: "delete", key: cmd.key, revision, index: ctx.index },
    });
    return { kind: "deleteKey", key: cmd.key, revision };
  };
};

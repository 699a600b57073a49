import { Code, ConnectError } from "@connectrpc/connect";
import type { Command } from "commander";
import type { KeyValue } from "../gen/gastrolog/v1/admin_pb.js";
import { UNARY_TIMEOUT_MS } from "./admin-client.js";
import { CliError, oneLine } from "./cli-error.js";
import {
  type AdminOptions,
  examples,
  homeOption,
  intParser,
  outputOption,
  withAdmin,
} from "./command-support.js";
import { isoOrNull, num, shortTime, toJson, utf8OrNull, valuePreview } from "./format.js";
import type { CliIo } from "./io.js";
import { renderTable } from "./table.js";

/** A key/value entry as JSON: the value as text when it is UTF-8, and always as base64. */
export interface KeyValueJson {
  key: string;
  value: string | null;
  valueBase64: string;
  revision: number;
  modifiedAt: string | null;
}

/** An entry as JSON. */
export function keyValueToJson(kv: KeyValue): KeyValueJson {
  return {
    key: kv.key,
    value: utf8OrNull(kv.value),
    valueBase64: Buffer.from(kv.value).toString("base64"),
    revision: num(kv.revision),
    modifiedAt: isoOrNull(kv.modifiedAtUnixMs),
  };
}

const MAX_REVISION = Number.MAX_SAFE_INTEGER;

/** `gastrolog config ...`: put, get, delete and list entries of the replicated key/value store. */
export function registerConfigCommands(program: Command, io: CliIo): void {
  const config = program
    .command("config")
    .description("read and write the cluster's replicated, versioned key/value store")
    .helpCommand(false);

  examples(
    outputOption(
      homeOption(
        config
          .command("put")
          .description("store VALUE (as UTF-8 bytes) under KEY; prints the new revision")
          .argument("<key>", "the key")
          .argument("<value>", "the value (use -- before a value that starts with -)")
          .option(
            "--if-revision <n>",
            "compare-and-set: write only if the key's revision is N (0: only if it does not exist)",
            intParser(0, MAX_REVISION),
          ),
      ),
    ),
    [
      "gastrolog config put app/greeting hello",
      "gastrolog config put app/limit --if-revision 0 -- -1",
      "gastrolog config put app/greeting bonjour --if-revision 3",
    ],
  ).action(async (key: string, value: string, opts: AdminOptions & { ifRevision?: number }) => {
    await withAdmin(io, opts, async (admin) => {
      const res = await admin.config
        .put(
          {
            key,
            value: new TextEncoder().encode(value),
            ...(opts.ifRevision === undefined ? {} : { expectedRevision: BigInt(opts.ifRevision) }),
          },
          { timeoutMs: UNARY_TIMEOUT_MS },
        )
        .catch(casConflict(key, opts.ifRevision));
      io.stdout(
        opts.output === "json"
          ? toJson({ key, revision: num(res.revision) })
          : `${key} stored at revision ${res.revision}\n`,
      );
    });
  });

  examples(
    outputOption(
      homeOption(
        config
          .command("get")
          .description("print the value stored under KEY (raw bytes in table mode)")
          .argument("<key>", "the key")
          .option("--linearizable", "confirm with a quorum first instead of a local read"),
      ),
    ),
    [
      "gastrolog config get app/greeting",
      "gastrolog config get app/greeting --linearizable -o json",
    ],
  ).action(async (key: string, opts: AdminOptions & { linearizable?: boolean }) => {
    await withAdmin(io, opts, async (admin) => {
      const res = await admin.config.get(
        { key, linearizable: opts.linearizable === true },
        { timeoutMs: UNARY_TIMEOUT_MS },
      );
      if (!res.found || res.kv === undefined) {
        throw new CliError(`key "${key}" not found`, {
          hint: "list keys with: gastrolog config list",
        });
      }
      if (opts.output === "json") {
        io.stdout(toJson({ ...keyValueToJson(res.kv), staleEntries: num(res.staleEntries) }));
        return;
      }
      // The value exactly as stored, so that `$(gastrolog config get k)` and redirects to
      // a file round-trip; a newline only for a terminal, to keep the prompt apart.
      io.stdout(res.kv.value);
      const last = res.kv.value[res.kv.value.length - 1];
      if (io.stdoutIsTTY && last !== 0x0a) io.stdout("\n");
      if (res.staleEntries > 0n) {
        io.stderr(
          `note: local read, up to ${res.staleEntries} entries behind the leader (use --linearizable for a current read)\n`,
        );
      }
    });
  });

  examples(
    outputOption(
      homeOption(
        config
          .command("delete")
          .description("delete KEY")
          .argument("<key>", "the key")
          .option(
            "--if-revision <n>",
            "compare-and-set: delete only if the key's revision is N",
            intParser(1, MAX_REVISION),
          ),
      ),
    ),
    [
      "gastrolog config delete app/greeting",
      "gastrolog config delete app/greeting --if-revision 4",
    ],
  ).action(async (key: string, opts: AdminOptions & { ifRevision?: number }) => {
    await withAdmin(io, opts, async (admin) => {
      const res = await admin.config
        .delete(
          {
            key,
            ...(opts.ifRevision === undefined ? {} : { expectedRevision: BigInt(opts.ifRevision) }),
          },
          { timeoutMs: UNARY_TIMEOUT_MS },
        )
        .catch(casConflict(key, opts.ifRevision));
      if (opts.output === "json") {
        io.stdout(toJson({ key, deleted: res.deleted }));
      } else {
        io.stdout(res.deleted ? `deleted ${key}\n` : `${key} did not exist; nothing deleted\n`);
      }
    });
  });

  examples(
    outputOption(
      homeOption(
        config
          .command("list")
          .description("list entries whose key starts with PREFIX (all when omitted)")
          .argument("[prefix]", "key prefix", "")
          .option("--linearizable", "confirm with a quorum first instead of a local read"),
      ),
    ),
    ["gastrolog config list", "gastrolog config list app/ -o json"],
  ).action(async (prefix: string, opts: AdminOptions & { linearizable?: boolean }) => {
    await withAdmin(io, opts, async (admin) => {
      const res = await admin.config.list(
        { prefix, linearizable: opts.linearizable === true },
        { timeoutMs: UNARY_TIMEOUT_MS },
      );
      if (opts.output === "json") {
        io.stdout(toJson({ kvs: res.kvs.map(keyValueToJson) }));
        return;
      }
      io.stdout(
        renderTable(
          ["KEY", "REVISION", "MODIFIED", "VALUE"],
          res.kvs.map((kv) => [
            kv.key,
            String(kv.revision),
            shortTime(kv.modifiedAtUnixMs),
            valuePreview(kv.value),
          ]),
        ),
      );
    });
  });
}

/**
 * A compare-and-set that lost (the key moved on since it was read) is not a cluster
 * problem: say how to read the current revision and try again.
 */
function casConflict(key: string, ifRevision: number | undefined): (err: unknown) => never {
  return (err) => {
    if (
      ifRevision !== undefined &&
      err instanceof ConnectError &&
      err.code === Code.FailedPrecondition
    ) {
      throw new CliError(oneLine(err.rawMessage), {
        hint: `read it again (\`gastrolog config get ${key} -o json\` shows its revision) and retry with that --if-revision`,
      });
    }
    throw err;
  };
}

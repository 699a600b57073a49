import { type Command, InvalidArgumentError, Option } from "commander";
import { type AdminClient, createAdminClient } from "./admin-client.js";
import { describeAdminError } from "./admin-error.js";
import type { OutputFormat } from "./format.js";
import { resolveHome } from "./home.js";
import type { CliIo } from "./io.js";

/** Options every admin command has. */
export interface AdminOptions {
  home?: string;
  output?: OutputFormat;
}

const HOME_HELP =
  "node home directory (default: $GASTROLOG_HOME, else $XDG_DATA_HOME/gastrolog, else ~/.local/share/gastrolog)";

/** Adds `--home DIR`. */
export function homeOption(cmd: Command): Command {
  return cmd.option("--home <dir>", HOME_HELP);
}

/** Adds `-o, --output table|json` (default table). */
export function outputOption(cmd: Command): Command {
  return cmd.addOption(
    new Option("-o, --output <format>", "output format")
      .choices(["table", "json"])
      .default("table"),
  );
}

/** Appends an "Examples:" section to a command's help. */
export function examples(cmd: Command, lines: readonly string[]): Command {
  return cmd.addHelpText("after", `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}`);
}

/**
 * Runs `fn` with an admin client for the node at `--home`, turning every failure on the
 * way (no socket, stale socket, a Connect error) into one line, and closing the client
 * so that the process exits as soon as the command is done.
 */
export async function withAdmin<T>(
  io: CliIo,
  opts: AdminOptions,
  fn: (admin: AdminClient, home: string) => Promise<T>,
): Promise<T> {
  const home = resolveHome(opts.home, io);
  const admin = createAdminClient({ home });
  try {
    return await fn(admin, home);
  } catch (err) {
    throw describeAdminError(err, home);
  } finally {
    admin.close();
  }
}

/** A commander argument parser for a whole number in [min, max]. */
export function intParser(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value.trim())) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    const n = Number(value.trim());
    if (n < min || n > max)
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

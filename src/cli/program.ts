import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { registerCertCommands } from "./cert-commands.js";
import { CliError } from "./cli-error.js";
import { registerClusterCommands } from "./cluster-commands.js";
import { registerConfigCommands } from "./config-commands.js";
import type { CliIo } from "./io.js";
import { registerServerCommand } from "./server-command.js";
import { registerTokenCommands } from "./token-commands.js";

/** The CLI, ready to run one command line. */
export interface CliProgram {
  /** The commander tree (for help text and introspection). */
  readonly command: Command;
  /**
   * Runs one command line (without `node` and the script) and resolves to the exit code:
   * 0 ok, 1 the operation failed (one line on stderr), 2 a usage error.
   */
  run(argv: readonly string[]): Promise<number>;
}

/** The package version, read once from package.json (two levels up from src/cli and dist/cli). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
    ) as {
      version?: string;
    };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * Builds the `gastrolog` command tree around `io`. Nothing here touches `process`: output,
 * environment and the server entry come from `io`, so tests run the real CLI in-process.
 * Create one program per command line (commander keeps parsed state on the tree).
 */
export function createProgram(io: CliIo): CliProgram {
  let exitCode = 0;
  const program = new Command("gastrolog")
    .description(
      "gastrolog: a small Raft cluster with a replicated config store, join tokens and mTLS",
    )
    .version(packageVersion(), "-V, --version", "print the version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout(s),
      writeErr: (s) => io.stderr(s),
    })
    .showHelpAfterError("(add --help for usage)");
  // Subcommands made with .command() inherit exitOverride and the output configuration.
  registerServerCommand(program, io, (code) => {
    exitCode = code;
  });
  registerClusterCommands(program, io);
  registerConfigCommands(program, io);
  registerTokenCommands(program, io);
  registerCertCommands(program, io);
  program.addHelpText(
    "after",
    "\nAdmin commands talk to the node whose --home is given, over <home>/api.sock.\n\nExamples:\n  $ gastrolog server --bootstrap\n  $ gastrolog cluster status\n  $ gastrolog token create --ttl 1h --uses 1",
  );

  return {
    command: program,
    async run(argv) {
      try {
        await program.parseAsync([...argv], { from: "user" });
        return exitCode;
      } catch (err) {
        if (err instanceof CommanderError) {
          // Commander has printed its message (or the help / version) already.
          return err.exitCode === 0 ? 0 : 2;
        }
        if (err instanceof CliError) {
          io.stderr(`${err.line()}\n`);
          return err.exitCode;
        }
        // A bug: the one case that shows a stack trace.
        io.stderr(
          `gastrolog: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
        );
        return 1;
      }
    },
  };
}

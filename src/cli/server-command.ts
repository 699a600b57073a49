import { type Command, InvalidArgumentError, Option } from "commander";
import { JoinTokenError, parseJoinToken } from "../pki/join-token.js";
import { CliError, usageError } from "./cli-error.js";
import { examples } from "./command-support.js";
import { resolveHome } from "./home.js";
import { HostPortError, type HostPortRules, parseHostPort } from "./host-port.js";
import type { CliIo, RunServer } from "./io.js";
import {
  DEFAULT_CLUSTER_ADDR,
  DEFAULT_LISTEN,
  LOG_LEVELS,
  type ServerOptions,
} from "./server-options.js";

/** Where `runServer` lives, relative to this module (dist/cli -> dist/server). */
export const SERVER_MODULE = "../server/run.js";

/** Environment variable read for the join token when --join-addr is given without it. */
export const JOIN_TOKEN_ENV = "GASTROLOG_JOIN_TOKEN";

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$/;

function addressParser(rules: HostPortRules): (value: string) => string {
  return (value) => {
    try {
      parseHostPort(value, rules);
      return value.trim();
    } catch (err) {
      if (err instanceof HostPortError) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

function parseName(value: string): string {
  if (!NAME.test(value)) {
    throw new InvalidArgumentError(
      "a node name is 1-63 characters: letters, digits, '.', '_' or '-', starting with a letter or digit",
    );
  }
  return value;
}

/** The raw flags commander hands the action. */
interface ServerFlags {
  home?: string;
  bootstrap?: boolean;
  joinAddr?: string;
  joinToken?: string;
  nonvoter?: boolean;
  name?: string;
  listen: string;
  clusterAddr: string;
  advertiseAddr?: string;
  logLevel: string;
  logFormat?: "json" | "pretty";
}

/**
 * Checks the flag combinations commander cannot express and builds {@link ServerOptions}.
 * Throws a usage {@link CliError} (exit 2). The join token is checked to parse here, so
 * that a truncated paste fails before anything starts; the message never contains it.
 *
 * `--bootstrap` together with join flags is passed through on purpose: on an empty home it
 * is an error and on an initialised home both are ignored with a notice, and only the
 * server knows which one it has.
 */
export function buildServerOptions(flags: ServerFlags, io: CliIo): ServerOptions {
  let joinToken = flags.joinToken;
  if (joinToken === undefined && flags.joinAddr !== undefined) {
    const fromEnv = io.env[JOIN_TOKEN_ENV];
    if (fromEnv) joinToken = fromEnv;
  }
  if ((flags.joinAddr === undefined) !== (joinToken === undefined)) {
    throw usageError(
      flags.joinAddr === undefined
        ? "--join-token needs --join-addr (the cluster address of any member)"
        : `--join-addr needs --join-token (or $${JOIN_TOKEN_ENV})`,
      "create a token on a member with: gastrolog token create",
    );
  }
  if (flags.nonvoter === true && flags.joinAddr === undefined) {
    throw usageError("--nonvoter only applies when joining (with --join-addr and --join-token)");
  }
  if (joinToken !== undefined) {
    try {
      parseJoinToken(joinToken);
    } catch (err) {
      if (err instanceof JoinTokenError) {
        throw usageError(
          `malformed join token: ${err.message}`,
          "paste the whole token printed by `gastrolog token create` (<secret>:<ca-hash>)",
        );
      }
      throw err;
    }
    joinToken = joinToken.trim();
  }
  const options: ServerOptions = {
    home: resolveHome(flags.home, io),
    bootstrap: flags.bootstrap === true,
    nonvoter: flags.nonvoter === true,
    listen: flags.listen,
    clusterAddr: flags.clusterAddr,
    logLevel: flags.logLevel,
    logFormat: flags.logFormat ?? (io.stderrIsTTY ? "pretty" : "json"),
  };
  if (flags.joinAddr !== undefined) options.joinAddr = flags.joinAddr;
  if (joinToken !== undefined) options.joinToken = joinToken;
  if (flags.name !== undefined) options.name = flags.name;
  if (flags.advertiseAddr !== undefined) options.advertiseAddr = flags.advertiseAddr;
  return options;
}

/**
 * Loads `runServer` from ../server/run.js. The specifier is a variable so that the CLI
 * type-checks and builds whether or not the server module exists yet; its absence at run
 * time is reported as a broken build, not as a stack trace.
 */
export async function loadRunServer(specifier: string = SERVER_MODULE): Promise<RunServer> {
  const url = new URL(specifier, import.meta.url);
  let mod: { runServer?: unknown };
  try {
    mod = (await import(url.href)) as { runServer?: unknown };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const base = url.pathname.replace(/\.js$/, "");
    // Only the server module itself missing means a broken build; a module missing
    // inside it is a real error with its own message.
    if (code === "ERR_MODULE_NOT_FOUND" && String((err as Error).message).includes(base)) {
      throw new CliError(`this build of gastrolog has no server (${url.pathname} is missing)`, {
        hint: "run `npm run build` in the repository",
      });
    }
    throw err;
  }
  if (typeof mod.runServer !== "function") {
    throw new CliError(`${url.pathname} does not export runServer`, {
      hint: "run `npm run build` in the repository",
    });
  }
  return mod.runServer as RunServer;
}

/** `gastrolog server`: validates flags, then runs the node until SIGINT/SIGTERM. */
export function registerServerCommand(
  program: Command,
  io: CliIo,
  setExitCode: (code: number) => void,
): void {
  const cmd = program
    .command("server")
    .description("run a gastrolog node: bootstrap a new cluster, join one, or restart from --home")
    .option(
      "--home <dir>",
      "node home directory (default: $GASTROLOG_HOME, else $XDG_DATA_HOME/gastrolog, else ~/.local/share/gastrolog)",
    )
    .option(
      "--bootstrap",
      "create a new cluster if the home is empty (a no-op on an initialised home)",
    )
    .option(
      "--join-addr <host:port>",
      "join the cluster through any member's cluster address",
      addressParser({ requireHost: true, forbidUnspecified: true }),
    )
    .option(
      "--join-token <token>",
      `join token from \`gastrolog token create\` (or $${JOIN_TOKEN_ENV}, which keeps it out of ps)`,
    )
    .option("--nonvoter", "stay a nonvoter after joining")
    .option(
      "--name <name>",
      "node name (default: chosen by the node, e.g. the host name)",
      parseName,
    )
    .option(
      "--listen <host:port>",
      "HTTPS/API address (health only until the authenticated API lands)",
      addressParser({ allowPortZero: true }),
      DEFAULT_LISTEN,
    )
    .option(
      "--cluster-addr <host:port>",
      "cluster port address (mTLS, node to node)",
      addressParser({ allowPortZero: true }),
      DEFAULT_CLUSTER_ADDR,
    )
    .option(
      "--advertise-addr <host:port>",
      "cluster address other nodes dial (default: --cluster-addr with a routable host)",
      addressParser({ requireHost: true, forbidUnspecified: true }),
    )
    .addOption(
      new Option("--log-level <level>", "log level").choices([...LOG_LEVELS]).default("info"),
    )
    .addOption(
      new Option(
        "--log-format <format>",
        "log format (default: pretty on a terminal, else json)",
      ).choices(["json", "pretty"]),
    );
  examples(cmd, [
    "gastrolog server --bootstrap",
    "gastrolog server --home /var/lib/gastrolog --join-addr 10.0.0.1:4566 --join-token <token>",
    "gastrolog server --home ./n2 --listen :5564 --cluster-addr 127.0.0.1:5566 --join-addr 127.0.0.1:4566 --join-token <token> --nonvoter",
  ]).addHelpText(
    "after",
    "\nOn an initialised home, --bootstrap and join flags are ignored (with a notice): the node\nrestarts from what its home holds. Stop it with SIGINT or SIGTERM (exit code 0).",
  );
  cmd.action(async (flags: ServerFlags) => {
    const options = buildServerOptions(flags, io);
    const runServer = io.runServer ?? (await loadRunServer());
    setExitCode(await runServer(options));
  });
}

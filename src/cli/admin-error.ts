import { Code, ConnectError } from "@connectrpc/connect";
import { CliError, oneLine } from "./cli-error.js";

/**
 * Turns whatever an admin call threw into the one-line {@link CliError} an operator sees.
 * This is the one place that knows socket errno codes and Connect codes: everything an
 * admin command can run into on the way to a node, and what to do about each.
 */
export function describeAdminError(err: unknown, home: string): CliError {
  if (err instanceof CliError) return err;
  const start = `Start one with: gastrolog server --home ${home}`;
  switch (socketErrno(err)) {
    case "ENOENT":
    case "ENOTDIR":
      return new CliError(`no gastrolog node is running with home ${home} (no api.sock). ${start}`);
    case "ECONNREFUSED":
      return new CliError(
        `no gastrolog node is running with home ${home} (api.sock is stale: nothing accepts connections on it). ${start}`,
      );
    case "EACCES":
    case "EPERM":
      return new CliError(`permission denied on ${home}/api.sock (the socket is mode 0600)`, {
        hint: "run the command as the user the node runs as",
      });
    case "ECONNRESET":
    case "EPIPE":
      return new CliError("the node closed the connection mid-call", {
        hint: "check the node's log; it may have stopped",
      });
    default:
      break;
  }
  if (!(err instanceof ConnectError)) {
    // Not from the transport: a bug in the CLI. Let the caller decide (it prints a trace).
    throw err;
  }
  const message = oneLine(err.rawMessage || Code[err.code] || "unknown error");
  switch (err.code) {
    case Code.InvalidArgument:
    case Code.OutOfRange:
      return new CliError(message, { hint: "check the arguments (see --help)" });
    case Code.NotFound:
    case Code.AlreadyExists:
      return new CliError(message);
    case Code.FailedPrecondition:
    case Code.Aborted:
      return new CliError(message, { hint: "check `gastrolog cluster status` and retry" });
    case Code.Unavailable:
      return new CliError(message, {
        hint: "the cluster may have lost quorum; check `gastrolog cluster status`",
      });
    case Code.DeadlineExceeded:
      return new CliError(`timed out: ${message}`, {
        hint: "check `gastrolog cluster status`; the operation may still complete",
      });
    case Code.PermissionDenied:
    case Code.Unauthenticated:
      return new CliError(`not allowed: ${message}`);
    case Code.ResourceExhausted:
      return new CliError(message, { hint: "wait and retry" });
    case Code.Unimplemented:
      return new CliError(`the node does not support this command (${message})`, {
        hint: "is the node running the same gastrolog version as this CLI?",
      });
    case Code.Canceled:
      return new CliError("cancelled");
    default:
      return new CliError(`the node failed: ${message}`, { hint: "see the node's log" });
  }
}

/**
 * The errno code of a socket error, looking through the `cause` chain connect-node wraps
 * it in (ConnectError -> Error with `code`).
 */
function socketErrno(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  let current: unknown = err;
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return code;
    current = current.cause;
  }
  return undefined;
}

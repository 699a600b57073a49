import type { OperationProgress } from "../gen/gastrolog/v1/admin_pb.js";
import { CliError, oneLine } from "./cli-error.js";
import type { CliIo } from "./io.js";

/** How a streamed operation ended. */
export interface OperationOutcome {
  /** The last message, the one with `done` set. */
  final: OperationProgress;
  /** A new reusable join token, if any message carried one (shown once by the caller). */
  newToken: string | undefined;
}

/** One progress line for stderr: `[phase] message (waiting for: a, b)`. */
export function progressLine(p: OperationProgress): string {
  const phase = p.phase ? `[${p.phase}] ` : "";
  const waiting = p.pending.length > 0 ? ` (waiting for: ${p.pending.join(", ")})` : "";
  return `${phase}${oneLine(p.message)}${waiting}`;
}

/**
 * Follows a server-streamed operation (cert rotate, ca rotate, cluster remove): every
 * progress message goes to stderr as it arrives, so that an operator watching a rotation
 * held open by a member that is down sees which member; the final message is returned for
 * stdout. A stream that ends without a final message is a failure: the operation may or
 * may not have finished, and the operator is told where to look.
 */
export async function followOperation(
  stream: AsyncIterable<OperationProgress>,
  io: CliIo,
  options: { what: string; checkWith: string },
): Promise<OperationOutcome> {
  let newToken: string | undefined;
  for await (const p of stream) {
    if (p.newToken) newToken = p.newToken;
    if (p.done) return { final: p, newToken };
    io.stderr(`${progressLine(p)}\n`);
  }
  throw new CliError(`${options.what}: the node ended the stream before the operation finished`, {
    hint: `check \`${options.checkWith}\` to see where it stands`,
  });
}

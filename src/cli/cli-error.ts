/**
 * The one error type the CLI prints. An action throws it for an expected failure (a node
 * not running, a key not found, a flag combination that makes no sense); `run` prints it
 * as a single line and exits with its code. Anything else that escapes an action is a
 * bug, and is the only thing that may show a stack trace.
 */
export class CliError extends Error {
  override readonly name = "CliError";
  /** 1: the operation failed; 2: the command line was wrong. */
  readonly exitCode: 1 | 2;
  /** What the operator can do about it, printed after a dash. */
  readonly hint: string | undefined;

  constructor(message: string, options: { hint?: string; exitCode?: 1 | 2 } = {}) {
    super(message);
    this.exitCode = options.exitCode ?? 1;
    this.hint = options.hint;
  }

  /** `gastrolog: <what> — <what to do>`, on one line whatever the message contains. */
  line(): string {
    const text = this.hint ? `${this.message} — ${this.hint}` : this.message;
    return `gastrolog: ${oneLine(text)}`;
  }
}

/** A usage error found after commander's own parsing (flag combinations): exit code 2. */
export function usageError(message: string, hint?: string): CliError {
  return new CliError(message, { exitCode: 2, hint: hint ?? "see --help" });
}

/**
 * Collapses whitespace runs (newlines from a server message included) so that every
 * error is exactly one line on stderr, which scripts and log scrapers rely on.
 */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, "; ").trim();
}

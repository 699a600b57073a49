import type { CliIo } from "../io.js";
import { createProgram } from "../program.js";
import { DOUBLE_NOW_MS } from "./admin-server-double.js";

/** What one in-process CLI run produced. */
export interface CliRun {
  code: number;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

/**
 * A CliIo for tests: output captured, an empty environment, a fixed home directory and
 * the admin double's clock, unless overridden.
 */
export function createCapturedIo(overrides: Partial<CliIo> = {}): {
  io: CliIo;
  result: () => Omit<CliRun, "code">;
} {
  const out: Buffer[] = [];
  let err = "";
  const io: CliIo = {
    stdout: (chunk) => {
      out.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk));
    },
    stderr: (text) => {
      err += text;
    },
    env: {},
    stdoutIsTTY: false,
    stderrIsTTY: false,
    homedir: () => "/home/tester",
    now: () => DOUBLE_NOW_MS,
    ...overrides,
  };
  if (overrides.stderr) {
    // Capture and still let the test observe each write.
    const observe = overrides.stderr;
    io.stderr = (text) => {
      err += text;
      observe(text);
    };
  }
  return {
    io,
    result: () => {
      const bytes = Buffer.concat(out);
      return { stdout: bytes.toString("utf8"), stdoutBytes: bytes, stderr: err };
    },
  };
}

/** Runs `gastrolog <argv>` in-process and returns the exit code and captured output. */
export async function runCli(
  argv: readonly string[],
  overrides: Partial<CliIo> = {},
): Promise<CliRun> {
  const { io, result } = createCapturedIo(overrides);
  const code = await createProgram(io).run(argv);
  return { code, ...result() };
}

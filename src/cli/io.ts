import { homedir } from "node:os";
import type { ServerOptions } from "./server-options.js";

/** Starts a node and resolves to its exit code: the shape of `runServer` in ../server/run.js. */
export type RunServer = (options: ServerOptions) => Promise<number>;

/**
 * Everything the CLI touches outside itself. The process wires the real streams and
 * environment; tests capture output and pass their own environment, clock and server.
 */
export interface CliIo {
  /** Command output: tokens, tables, JSON, raw config values (bytes are written as is). */
  stdout: (chunk: string | Uint8Array) => void;
  /** Progress, notices and error lines. */
  stderr: (text: string) => void;
  /** Environment variables (GASTROLOG_HOME, XDG_DATA_HOME). */
  env: Readonly<Record<string, string | undefined>>;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** The user's home directory, for the default node home. */
  homedir: () => string;
  /** Wall clock in ms, for "expires in 3d" columns. */
  now: () => number;
  /** Replaces the dynamic import of ../server/run.js (tests). */
  runServer?: RunServer;
}

/** The real process: its streams, environment, home directory and clock. */
export function createProcessIo(): CliIo {
  return {
    stdout: (chunk) => {
      process.stdout.write(chunk);
    },
    stderr: (text) => {
      process.stderr.write(text);
    },
    env: process.env,
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    homedir,
    now: Date.now,
  };
}

/**
 * One `gastrolog server` child process, as the benchmark needs it: its JSON log lines,
 * a wait for the "serving" line (or its exit), and a stop by PID. Kept here rather than
 * borrowed from the e2e harness so that the benchmark does not move when the tests do.
 */
import type { ChildProcess } from "node:child_process";

/** The outcome of a finished process. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A started server process. */
export class ServerProcess {
  /** The last stderr lines, for error messages. */
  readonly tail: string[] = [];
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;
  private servingLine: Record<string, unknown> | undefined;
  private onServing: ((l: Record<string, unknown>) => void) | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    let buf = "";
    // stdout is not used by the server; drain it so the pipe never fills.
    child.stdout?.resume();
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const line of lines) this.onLine(line);
    });
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  private onLine(line: string): void {
    this.tail.push(line);
    if (this.tail.length > 20) this.tail.shift();
    if (this.servingLine || !line.includes('"serving"')) return;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.msg !== "serving") return;
      this.servingLine = parsed;
      this.onServing?.(parsed);
    } catch {
      // Not a JSON log line.
    }
  }

  /** Resolves with the cluster address once the node logs "serving"; rejects on exit/timeout. */
  serving(timeoutMs: number): Promise<{ clusterAddr: string }> {
    const done = (l: Record<string, unknown>) => ({ clusterAddr: String(l.clusterAddr) });
    if (this.servingLine) return Promise.resolve(done(this.servingLine));
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new Error(`${this.name}: not serving within ${timeoutMs} ms:\n${this.tail.join("\n")}`),
          ),
        timeoutMs,
      );
      this.onServing = (l) => {
        clearTimeout(t);
        resolve(done(l));
      };
      void this.exited.then((e) => {
        clearTimeout(t);
        reject(
          new Error(
            `${this.name} exited (${e.code ?? e.signal}) before serving:\n${this.tail.join("\n")}`,
          ),
        );
      });
    });
  }

  /** Sends `signal` to this PID, escalates to SIGKILL after `graceMs`, waits for the exit. */
  async stop(signal: NodeJS.Signals, graceMs: number): Promise<Exit> {
    if (this.exit) return this.exit;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    const e = await this.exited;
    clearTimeout(t);
    return e;
  }
}

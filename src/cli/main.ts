import { createProcessIo } from "./io.js";
import { createProgram } from "./program.js";

/**
 * The `gastrolog` executable (bin/gastrolog imports dist/cli/main.js). Sets the exit code
 * instead of calling process.exit, so that stdout and log transports drain first; admin
 * clients close their sockets, so nothing keeps the process alive after a command.
 */
// A reader that stops early (`gastrolog --help | head`) closes the pipe: that is not an
// error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const code = await createProgram(createProcessIo()).run(process.argv.slice(2));
process.exitCode = code;

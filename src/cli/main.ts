import { createProcessIo } from "./io.js";
import { createProgram } from "./program.js";

/**
 * The `gastrolog` executable (bin/gastrolog imports dist/cli/main.js). Sets the exit code
 * instead of calling process.exit, so that stdout and log transports drain first; admin
 * clients close their sockets, so nothing keeps the process alive after a command.
 */
const code = await createProgram(createProcessIo()).run(process.argv.slice(2));
process.exitCode = code;

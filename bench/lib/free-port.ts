/**
 * Free TCP ports on 127.0.0.1, for servers (etcd) that cannot be told to pick port 0 and
 * report it. The ports are found by binding port 0 and closing again, so another process
 * could in theory take one before etcd binds it; etcd then fails to start with a clear
 * "address already in use", which the caller reports.
 */
import { createServer } from "node:net";

/** Returns `n` distinct free ports on 127.0.0.1 (all held open until all are known). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === "string") throw new Error("listen gave no TCP address");
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

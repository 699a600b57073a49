/**
 * What `gastrolog server` hands to `runServer` in ../server/run.js once its flags have
 * parsed and validated. Addresses are kept as the operator wrote them (validated
 * `HOST:PORT`, `:PORT` or `[IPv6]:PORT`); the server resolves them.
 */
export interface ServerOptions {
  /** Absolute path of the node's home directory. */
  home: string;
  /** `--bootstrap`: create a cluster if the home is empty (a no-op with a notice otherwise). */
  bootstrap: boolean;
  /** `--join-addr`: a member's cluster address; always given together with joinToken. */
  joinAddr?: string;
  /** `--join-token`: `<secret>:<ca-hash>`, already checked to parse. A secret: never log it. */
  joinToken?: string;
  /** `--nonvoter`: stay a nonvoter after joining; only set with a join. */
  nonvoter: boolean;
  /** `--name`: the node's name; the server picks one (e.g. the host name) when absent. */
  name?: string;
  /** `--listen`: HTTPS/API address, default ":4564". */
  listen: string;
  /** `--cluster-addr`: cluster port address, default ":4566". */
  clusterAddr: string;
  /** `--advertise-addr`: the cluster address others dial; never 0.0.0.0 or ::. */
  advertiseAddr?: string;
  /** `--log-level`: a pino level name, default "info". */
  logLevel: string;
  /** `--log-format`: default "pretty" when stderr is a TTY, else "json". */
  logFormat: "json" | "pretty";
}

/** The defaults the issue fixes for the two ports. */
export const DEFAULT_LISTEN = ":4564";
export const DEFAULT_CLUSTER_ADDR = ":4566";

/** pino's level names, in the order pino ranks them (most verbose last but one). */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

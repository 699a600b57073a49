import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";

/** Where {@link resolveHome} looks, so tests can pass their own. */
export interface HomeEnvironment {
  env: Readonly<Record<string, string | undefined>>;
  homedir: () => string;
}

/**
 * The node's home directory, as an absolute path: `--home`, else `$GASTROLOG_HOME`, else
 * `$XDG_DATA_HOME/gastrolog`, else `~/.local/share/gastrolog`.
 *
 * Empty variables count as unset. A relative `$XDG_DATA_HOME` is ignored, as the XDG Base
 * Directory spec requires; a relative `--home` or `$GASTROLOG_HOME` is taken relative to
 * the working directory, as an operator typing it would expect.
 */
export function resolveHome(
  flag?: string,
  where: HomeEnvironment = { env: process.env, homedir },
): string {
  if (flag !== undefined && flag !== "") return resolve(flag);
  const explicit = where.env.GASTROLOG_HOME;
  if (explicit) return resolve(explicit);
  const xdg = where.env.XDG_DATA_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, "gastrolog");
  return join(where.homedir(), ".local", "share", "gastrolog");
}

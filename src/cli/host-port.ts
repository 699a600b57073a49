import { isIP, isIPv6 } from "node:net";

/** A parsed `HOST:PORT`. `host` is "" for `:PORT`, and an IPv6 address has no brackets. */
export interface HostPort {
  host: string;
  port: number;
}

/** What a particular flag accepts. */
export interface HostPortRules {
  /** Refuse `:PORT` (an address others dial needs a host). */
  requireHost?: boolean;
  /** Accept port 0 (let the OS choose; only meaningful for a listening address). */
  allowPortZero?: boolean;
  /** Refuse 0.0.0.0 and :: (an address others dial cannot be "any"). */
  forbidUnspecified?: boolean;
}

/** An address that does not parse or breaks a rule. The message quotes the input. */
export class HostPortError extends Error {
  override readonly name = "HostPortError";
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Parses `host:port`, `:port` or `[ipv6]:port`. Hosts are DNS names, IPv4 or bracketed
 * IPv6 addresses; a bare IPv6 address (`::1:4566`) is refused because it is ambiguous.
 * Throws {@link HostPortError} with a message that says which form is expected.
 */
export function parseHostPort(text: string, rules: HostPortRules = {}): HostPort {
  const input = text.trim();
  const form = "expected HOST:PORT, :PORT or [IPv6]:PORT";
  let host: string;
  let portText: string;
  if (input.startsWith("[")) {
    const close = input.indexOf("]");
    if (close < 0 || input[close + 1] !== ":") {
      throw new HostPortError(`invalid address "${input}": ${form}`);
    }
    host = input.slice(1, close);
    portText = input.slice(close + 2);
    if (!isIPv6(host)) {
      throw new HostPortError(`invalid address "${input}": "${host}" is not an IPv6 address`);
    }
  } else {
    const colon = input.lastIndexOf(":");
    if (colon < 0) throw new HostPortError(`invalid address "${input}": no port (${form})`);
    host = input.slice(0, colon);
    portText = input.slice(colon + 1);
    if (host.includes(":")) {
      throw new HostPortError(
        `invalid address "${input}": put an IPv6 address in brackets, e.g. [::1]:4566`,
      );
    }
    if (host !== "" && isIP(host) === 0 && !isHostname(host)) {
      throw new HostPortError(`invalid address "${input}": "${host}" is not a valid host name`);
    }
  }
  if (!/^\d{1,5}$/.test(portText)) {
    throw new HostPortError(`invalid address "${input}": the port must be a number 1-65535`);
  }
  const port = Number(portText);
  if (port > 65_535 || (port === 0 && !rules.allowPortZero)) {
    throw new HostPortError(`invalid address "${input}": the port must be a number 1-65535`);
  }
  if (rules.requireHost && host === "") {
    throw new HostPortError(`invalid address "${input}": a host is required here (HOST:PORT)`);
  }
  if (rules.forbidUnspecified && isUnspecified(host)) {
    throw new HostPortError(
      `invalid address "${input}": other nodes cannot dial "${host || "any"}"; give a routable host`,
    );
  }
  return { host, port };
}

/** True for the "any address" forms a server binds to but nobody can dial. */
export function isUnspecified(host: string): boolean {
  if (host === "" || host === "0.0.0.0") return true;
  return isIPv6(host) && /^[0:]+$/.test(host);
}

function isHostname(host: string): boolean {
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => LABEL.test(label));
}

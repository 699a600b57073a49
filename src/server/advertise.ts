import type { NetworkInterfaceInfo } from "node:os";

/**
 * A routable address of this host for advertising when the cluster address binds every
 * interface: the first non-internal IPv4 address, else the first non-internal IPv6 one
 * (link-local IPv6 addresses are skipped: they need a zone to be dialled). Undefined when
 * the host has none; the caller then asks for --advertise-addr.
 */
export function pickRoutableHost(
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>,
): string | undefined {
  const all = Object.values(interfaces)
    .flat()
    .filter((i): i is NetworkInterfaceInfo => i !== undefined && !i.internal);
  return (
    all.find((i) => i.family === "IPv4")?.address ??
    all.find((i) => i.family === "IPv6" && !/^fe[89ab]/i.test(i.address))?.address
  );
}

/**
 * Why a member cannot restart on `bindPort`, or undefined when it can. The cluster knows a
 * member by the address it advertised when it joined, and dials that; a restart that binds
 * another port (say, `--cluster-addr` left out after a join with a non-default one) would
 * leave the member unreachable without a word. Only an explicit --advertise-addr (a port
 * forwarded to the new one) makes a different port fine.
 */
export function restartPortProblem(
  recorded: { clusterAddr: string; clusterBindPort?: number | undefined },
  bindPort: number,
  advertiseGiven: boolean,
): string | undefined {
  const was = recorded.clusterBindPort;
  if (advertiseGiven || was === undefined || was === bindPort) return undefined;
  return `this member's cluster port is ${was} (the cluster dials it at ${recorded.clusterAddr}), not ${bindPort}: start it with the --cluster-addr it joined with (port ${was}), or pass --advertise-addr if a forwarded port reaches ${bindPort}`;
}

import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { CheckResponseSchema, type HealthService } from "../../gen/gastrolog/v1/health_pb.js";

/** Options for {@link createHealthService}. */
export interface HealthServiceOptions {
  nodeId: string;
  /** The node's current role ("leader", "follower", ...); asked on every call. */
  role: () => string;
  /** Unix milliseconds; default `Date.now`. */
  clock?: () => number;
}

/** `HealthService.Check`: answers with the node id, its role and its clock. */
export function createHealthService(
  options: HealthServiceOptions,
): ServiceImpl<typeof HealthService> {
  const clock = options.clock ?? Date.now;
  return {
    check() {
      return create(CheckResponseSchema, {
        nodeId: options.nodeId,
        role: options.role(),
        timeUnixMs: BigInt(clock()),
      });
    },
  };
}

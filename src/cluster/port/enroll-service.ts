import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  type EnrollRequest,
  type EnrollResponseSchema,
  type EnrollService,
  GetCABundleResponseSchema,
} from "../../gen/gastrolog/v1/enroll_pb.js";
import type { ClusterTlsState } from "../tls/tls-state.js";

/**
 * Handles `EnrollService.Enroll`. It runs *without* client authentication: it must verify
 * the token itself, rate-limit by `ctx.values.get(peerIdentityKey).remoteAddress`, and
 * never say which part of a bad token was wrong.
 */
export type EnrollHandler = (
  request: EnrollRequest,
  ctx: HandlerContext,
) => Promise<MessageInitShape<typeof EnrollResponseSchema>>;

/**
 * The EnrollService implementation: `Enroll` delegates to the handler in force (or answers
 * `unimplemented` while there is none), `GetCABundle` returns the trusted CAs from the
 * current TLS state, each as its own PEM string, and nothing else.
 */
export function createEnrollService(deps: {
  tls: () => ClusterTlsState;
  enroll: () => EnrollHandler | undefined;
}): ServiceImpl<typeof EnrollService> {
  return {
    async enroll(request, ctx) {
      const handler = deps.enroll();
      if (handler === undefined) {
        throw new ConnectError("enrollment is not available on this node", Code.Unimplemented);
      }
      return handler(request, ctx);
    },
    getCABundle() {
      return create(GetCABundleResponseSchema, {
        trustedCaPems: [...deps.tls().trustedCaPemList],
      });
    },
  };
}

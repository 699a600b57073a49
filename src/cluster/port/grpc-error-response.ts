import * as http2 from "node:http2";
import type { ConnectError } from "@connectrpc/connect";

/**
 * Answers a gRPC request with an error status before anything of it has been read: a
 * Trailers-Only response (one HEADERS frame with END_STREAM carrying grpc-status and
 * grpc-message), followed by RST_STREAM(NO_ERROR), which per RFC 9113 §8.1 tells the
 * client to stop sending the body we are not going to read.
 */
export function writeGrpcError(stream: http2.ServerHttp2Stream, error: ConnectError): void {
  if (stream.destroyed || stream.closed) return;
  try {
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc+proto",
        "grpc-status": String(error.code),
        "grpc-message": encodeURIComponent(error.rawMessage),
      },
      { endStream: true },
    );
    stream.close(http2.constants.NGHTTP2_NO_ERROR);
  } catch {
    // The stream died under us (the peer reset it); nothing left to answer.
    stream.destroy();
  }
}

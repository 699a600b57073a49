/**
 * The one place that wires @peculiar/x509 to Node's WebCrypto.
 *
 * @peculiar/x509 needs the `reflect-metadata` polyfill loaded before it and a WebCrypto
 * provider. Every PKI module imports x509 from here, so that the order is right no matter
 * which module a caller loads first.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

/** The key algorithm of every key this project generates: ECDSA on P-256. */
export const EC_KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };

/** The signature algorithm of every certificate this project issues: ECDSA with SHA-256. */
export const EC_SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

/** The WebCrypto implementation the PKI uses (Node's). */
export const subtle = webcrypto.subtle;

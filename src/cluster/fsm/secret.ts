/**
 * A box for secret text (private-key PEM). It serialises, prints and
 * stringifies as "[redacted]", so passing a whole object that holds one to a
 * logger, JSON.stringify or an error message cannot leak it. Reading the value
 * takes an explicit `reveal()`, which is easy to grep for in review.
 */

import { inspect } from "node:util";

const REDACTED = "[redacted]";

/** Secret text that only `reveal()` gives back. */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself. Call only where the value must leave the process's memory on purpose. */
  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/**
 * Thrown by the simulator when an invariant breaks. `invariant` is a stable short name
 * (tests and the CLI match on it); `detail` says what was seen.
 */
export class SimViolation extends Error {
  override readonly name = "SimViolation";

  constructor(
    readonly invariant: string,
    readonly detail: string,
  ) {
    super(`${invariant}: ${detail}`);
  }
}

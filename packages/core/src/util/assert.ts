/** An invariant was broken: a bug, not bad input. The role that hits one stops. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`invariant broken: ${message}`);
    this.name = 'AssertionError';
  }
}

/**
 * Always-on assertion for invariants.
 * @throws AssertionError when `condition` is false.
 */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

import type { DroverErrorKind } from '@drover/core';

/**
 * drover's exit codes (documented in docs/cli.md). They follow BSD sysexits where one fits, so scripts can tell
 * "fix your input" from "install a tool" from "retry later".
 */
export const EXIT_CODES = {
  ok: 0,
  /** The command ran and its answer is "no": e.g. `verity verify` found corruption. */
  failed: 1,
  usage: 2,
  input: 65,
  'not-found': 66,
  unavailable: 69,
  internal: 70,
  io: 74,
  conflict: 75,
  integrity: 76,
  denied: 77,
  aborted: 130,
} as const satisfies Record<DroverErrorKind | 'ok' | 'failed', number>;

/** The exit code for an error of this kind. */
export function exitCodeFor(kind: DroverErrorKind): number {
  return EXIT_CODES[kind] ?? EXIT_CODES.internal;
}

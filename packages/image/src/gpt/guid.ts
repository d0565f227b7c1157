import { createHash } from 'node:crypto';
import { DroverError } from '@drover/core';

const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a GUID/UUID in the canonical 8-4-4-4-12 hex form. */
export function isGuid(value: string): boolean {
  return GUID_PATTERN.test(value);
}

/** The 16 bytes of a GUID string in RFC 4122 (big-endian) order; throws `GPT_INVALID_GUID`. */
export function parseGuid(value: string, what = 'GUID'): Buffer {
  if (!isGuid(value)) {
    throw new DroverError('GPT_INVALID_GUID', `${what} ${JSON.stringify(value)} is not a GUID`, {
      hint: 'Write GUIDs as 8-4-4-4-12 hex digits, e.g. 0fc63daf-8483-4772-8e79-3d69d8477de4.',
      details: { value },
    });
  }
  return Buffer.from(value.replace(/-/g, ''), 'hex');
}

/** Canonical lower-case string of 16 RFC 4122-order bytes. */
export function formatGuid(bytes: Uint8Array): string {
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** GPT's on-disk form: the first three fields little-endian, the last two as they are. */
export function encodeGptGuid(value: string, what = 'GUID'): Buffer {
  const b = parseGuid(value, what);
  return Buffer.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8, 16)]);
}

/** Inverse of {@link encodeGptGuid}. */
export function decodeGptGuid(bytes: Uint8Array): string {
  const b = bytes;
  return formatGuid(
    Uint8Array.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8, 16)]),
  );
}

/** A version-4-shaped GUID derived from a seed by SHA-256, so layouts are reproducible. */
export function deriveGuid(seed: string): string {
  const b = createHash('sha256').update(seed).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return formatGuid(b);
}

import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32, crc32c, erofsChecksum } from './crc.js';

describe('crc', () => {
  it('matches the published check values', () => {
    const check = Buffer.from('123456789');
    expect(crc32(check)).toBe(0xcbf43926);
    expect(crc32c(check)).toBe(0xe3069283);
    // EROFS stores CRC-32C without the final XOR (erofs.md §1).
    expect(erofsChecksum(check)).toBe(0x1cf96d7c);
    expect(crc32(new Uint8Array())).toBe(0);
  });

  it('crc32 agrees with zlib and erofsChecksum is crc32c without the final XOR', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        expect(crc32(bytes)).toBe(zlibCrc32(bytes));
        expect(erofsChecksum(bytes)).toBe((crc32c(bytes) ^ 0xffffffff) >>> 0);
      }),
      { numRuns: 300 },
    );
  });
});

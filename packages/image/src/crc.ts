// Table-driven CRC-32 variants. GPT uses the IEEE polynomial (same as zlib); EROFS uses Castagnoli (CRC-32C).

function makeTable(reflectedPolynomial: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? reflectedPolynomial ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

const IEEE = makeTable(0xedb88320);
const CASTAGNOLI = makeTable(0x82f63b78);

function update(table: Uint32Array, crc: number, bytes: Uint8Array): number {
  let c = crc >>> 0;
  for (const b of bytes) c = table[(c ^ b) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** Standard CRC-32 (IEEE 802.3, as in zlib and GPT headers). */
export function crc32(bytes: Uint8Array): number {
  return (update(IEEE, 0xffffffff, bytes) ^ 0xffffffff) >>> 0;
}

/**
 * CRC-32C as EROFS stores it in the superblock: initial value 0xFFFFFFFF and no final XOR
 * (the standard CRC-32C of the same bytes XOR 0xFFFFFFFF).
 */
export function erofsChecksum(bytes: Uint8Array): number {
  return update(CASTAGNOLI, 0xffffffff, bytes);
}

/** Standard CRC-32C (Castagnoli, iSCSI). */
export function crc32c(bytes: Uint8Array): number {
  return (update(CASTAGNOLI, 0xffffffff, bytes) ^ 0xffffffff) >>> 0;
}

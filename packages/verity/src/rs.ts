import { DroverError } from '@drover/core';

/**
 * Reed-Solomon over GF(2^8) as dm-verity FEC uses it: field polynomial 0x11d, generator roots α^0..α^(r-1),
 * systematic RS(255, 255 - r).
 */
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  const sum = LOG[a]! + LOG[b]!;
  return EXP[sum]!;
}

function gfInv(a: number): number {
  const log = LOG[a]!;
  return EXP[255 - log]!;
}

function gfPow(a: number, n: number): number {
  if (a === 0) return n === 0 ? 1 : 0;
  const log = LOG[a]!;
  return EXP[(log * n) % 255]!;
}

/** Validate `--fec-roots`. */
export function checkFecRoots(roots: number): number {
  if (!Number.isInteger(roots) || roots < 2 || roots > 24) {
    throw new DroverError('VERITY_FEC_ROOTS_INVALID', `FEC roots ${roots} is not between 2 and 24`, {
      hint: 'Pass --fec-roots from 2 (the default) to 24; more roots correct more blocks but take more space.',
      details: { roots },
    });
  }
  return roots;
}

/** Generator polynomial coefficients, g[k] for x^k, monic (g[roots] = 1). */
export function generator(roots: number): Uint8Array {
  let g = new Uint8Array([1]);
  for (let i = 0; i < roots; i++) {
    const root = EXP[i]!;
    const next = new Uint8Array(g.length + 1);
    for (let k = 0; k < g.length; k++) {
      next[k + 1]! ^= g[k]!;
      next[k]! ^= gfMul(g[k]!, root);
    }
    g = next;
  }
  return g;
}

/**
 * Multiplication tables for the encoder: table k (256 bytes at k * 256) maps a feedback byte to its product with
 * g[roots - 1 - k], the term that lands in parity register k.
 */
export function encoderTables(roots: number): Uint8Array {
  const g = generator(roots);
  const tables = new Uint8Array(roots * 256);
  for (let k = 0; k < roots; k++) {
    const coefficient = g[roots - 1 - k]!;
    for (let f = 0; f < 256; f++) tables[k * 256 + f] = gfMul(f, coefficient);
  }
  return tables;
}

/**
 * Feed one message row to `length` interleaved codewords at once. `planes` holds the parity registers of every
 * codeword as `roots` planes of `length` bytes (register k of codeword c at k * length + c), rotated by `shift`:
 * register k lives in plane (k + shift) % roots. Returns the new shift. Self-contained so that it can run in a
 * worker from its source text.
 *
 * When the row is word-aligned it works on four codewords per 32-bit word: a product by a constant is the XOR of
 * the word's doublings selected by the constant's bits, and a doubling of four GF(2^8) bytes is a shift plus a
 * masked reduction. That avoids one table lookup per byte and register.
 */
export function encodeRow(
  row: Uint8Array,
  planes: Uint8Array,
  length: number,
  roots: number,
  shift: number,
  tables: Uint8Array,
): number {
  const aligned = (length & 3) === 0 && (row.byteOffset & 3) === 0 && (planes.byteOffset & 3) === 0;
  if (!aligned) {
    const first = (shift % roots) * length;
    const fb = planes.subarray(first, first + length);
    for (let c = 0; c < length; c++) fb[c] = fb[c]! ^ row[c]!;
    for (let k = 0; k < roots - 1; k++) {
      const at = ((shift + k + 1) % roots) * length;
      const plane = planes.subarray(at, at + length);
      const table = tables.subarray(k * 256, k * 256 + 256);
      for (let c = 0; c < length; c++) {
        const f = fb[c]!;
        plane[c] = plane[c]! ^ table[f]!;
      }
    }
    const last = tables.subarray((roots - 1) * 256, roots * 256);
    for (let c = 0; c < length; c++) {
      const f = fb[c]!;
      fb[c] = last[f]!;
    }
    return (shift + 1) % roots;
  }
  const words = length >>> 2;
  const row32 = new Uint32Array(row.buffer, row.byteOffset, words);
  const p32 = new Uint32Array(planes.buffer, planes.byteOffset, words * roots);
  // Table k maps 1 to its coefficient.
  if (roots === 2) {
    // g(x) = x^2 + 3x + 2: register 1 takes 3·fb, register 0 becomes 2·fb.
    const first2 = (shift & 1) * words;
    const other = words - first2;
    for (let c = 0; c < words; c++) {
      const fb = p32[first2 + c]! ^ row32[c]!;
      const twice = ((fb & 0x7f7f7f7f) << 1) ^ (((fb >>> 7) & 0x01010101) * 0x1d);
      p32[other + c] = p32[other + c]! ^ twice ^ fb;
      p32[first2 + c] = twice;
    }
    return (shift + 1) % roots;
  }
  // Larger generators: an unrolled kernel per generator, compiled once and kept on the tables array.
  type Kernel = (
    row32: Uint32Array,
    p32: Uint32Array,
    words: number,
    first: number,
    offsets: Int32Array,
  ) => void;
  const holder = tables as Uint8Array & { kernel?: Kernel };
  if (!holder.kernel) {
    const xorOf = (coefficient: number): string => {
      const terms: string[] = [];
      for (let i = 0; i < 8; i++) if ((coefficient >>> i) & 1) terms.push(`d${i}`);
      return terms.length > 0 ? terms.join(' ^ ') : '0';
    };
    const lines = ['for (let c = 0; c < words; c++) {', 'const d0 = p32[first + c] ^ row32[c];'];
    for (let i = 1; i < 8; i++) {
      lines.push(
        `const d${i} = ((d${i - 1} & 0x7f7f7f7f) << 1) ^ (((d${i - 1} >>> 7) & 0x01010101) * 0x1d);`,
      );
    }
    const head: string[] = [];
    for (let k = 0; k < roots - 1; k++) {
      head.push(`const o${k} = offsets[${k}];`);
      lines.push(`p32[o${k} + c] ^= ${xorOf(tables[k * 256 + 1]!)};`);
    }
    lines.push(`p32[first + c] = ${xorOf(tables[(roots - 1) * 256 + 1]!)};`, '}');
    holder.kernel = new Function(
      'row32',
      'p32',
      'words',
      'first',
      'offsets',
      [...head, ...lines].join('\n'),
    ) as Kernel;
  }
  const offsets = new Int32Array(roots);
  for (let k = 0; k < roots - 1; k++) offsets[k] = ((shift + k + 1) % roots) * words;
  holder.kernel(row32, p32, words, (shift % roots) * words, offsets);
  return (shift + 1) % roots;
}

/** Parity bytes of codeword c, register order, from the planes after the last row. */
export function interleaveParity(
  planes: Uint8Array,
  length: number,
  roots: number,
  shift: number,
  out: Uint8Array,
): void {
  for (let k = 0; k < roots; k++) {
    const plane = ((shift + k) % roots) * length;
    for (let c = 0; c < length; c++) out[c * roots + k] = planes[plane + c]!;
  }
}

/**
 * Erasure decoder for one interleaving group: given which symbol positions (0..254, message first, then parity)
 * are erased, `solve` recovers their values from the other symbols of each codeword.
 */
export class ErasureDecoder {
  private readonly inverse: Uint8Array[];
  private readonly degrees: number[];
  private readonly erased = new Uint8Array(255);
  constructor(
    readonly roots: number,
    readonly positions: readonly number[],
  ) {
    const e = positions.length;
    if (e > roots) throw new RangeError('more erasures than roots');
    this.degrees = positions.map((p) => 254 - p);
    for (const p of positions) this.erased[p] = 1;
    // Vandermonde system V[t][l] = X_l^t for t < e; invert it once per group.
    const m: Uint8Array[] = [];
    for (let t = 0; t < e; t++) {
      const row = new Uint8Array(2 * e);
      for (let l = 0; l < e; l++) {
        const degree = this.degrees[l]!;
        row[l] = gfPow(EXP[degree]!, t);
      }
      row[e + t] = 1;
      m.push(row);
    }
    for (let col = 0; col < e; col++) {
      let pivot = col;
      while (m[pivot]![col] === 0) pivot++;
      [m[col], m[pivot]] = [m[pivot]!, m[col]!];
      const rowC = m[col]!;
      const inv = gfInv(rowC[col]!);
      for (let x = 0; x < 2 * e; x++) rowC[x] = gfMul(rowC[x]!, inv);
      for (let r = 0; r < e; r++) {
        if (r === col) continue;
        const rowR = m[r]!;
        const f = rowR[col]!;
        if (f === 0) continue;
        for (let x = 0; x < 2 * e; x++) rowR[x]! ^= gfMul(f, rowC[x]!);
      }
    }
    this.inverse = m.map((row) => row.subarray(e));
  }

  /** `symbols` holds one codeword (255 bytes, erased ones ignored); writes recovered values into `out`. */
  solve(symbols: Uint8Array, out: Uint8Array): void {
    const e = this.positions.length;
    const syndromes = new Uint8Array(e);
    for (let t = 0; t < e; t++) {
      const x = EXP[t]!;
      let acc = 0;
      // Horner from the highest degree (symbol 0) down, with erased symbols taken as zero.
      for (let i = 0; i < 255; i++) acc = gfMul(acc, x) ^ (this.erased[i] ? 0 : symbols[i]!);
      syndromes[t] = acc;
    }
    for (let l = 0; l < e; l++) {
      let v = 0;
      const inverse = this.inverse[l]!;
      for (let t = 0; t < e; t++) v ^= gfMul(inverse[t]!, syndromes[t]!);
      out[l] = v;
    }
  }
}

import { DroverError } from '@drover/core';

/** A parsed DER element: tag byte, contents, and the full encoding. */
export interface DerNode {
  tag: number;
  /** The contents octets. */
  value: Buffer;
  /** Tag, length and contents together. */
  raw: Buffer;
}

function malformed(what: string): DroverError {
  return new DroverError('VERITY_SIGNATURE_MALFORMED', `malformed DER: ${what}`, {
    kind: 'integrity',
    hint: 'The signature or certificate is not valid DER; pass a PKCS#7 DER signature and a PEM or DER certificate.',
  });
}

/** Read one element at `offset`. */
export function readDer(bytes: Buffer, offset = 0): DerNode {
  if (offset + 2 > bytes.length) throw malformed('truncated header');
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw malformed('multi-byte tags are not supported');
  let length = bytes[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 4 || offset + 2 + n > bytes.length) throw malformed('bad length');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + bytes[offset + 2 + i]!;
    header += n;
  }
  const end = offset + header + length;
  if (end > bytes.length) throw malformed('element runs past the end');
  return { tag, value: bytes.subarray(offset + header, end), raw: bytes.subarray(offset, end) };
}

/** The elements inside a constructed element. */
export function children(node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  let at = 0;
  while (at < node.value.length) {
    const child = readDer(node.value, at);
    out.push(child);
    at += child.raw.length;
  }
  return out;
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let l = length; l > 0; l = Math.floor(l / 256)) bytes.unshift(l & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Encode an element from its tag and contents. */
export function der(tag: number, ...contents: Buffer[]): Buffer {
  const value = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), encodeLength(value.length), value]);
}

export const sequence = (...items: Buffer[]): Buffer => der(0x30, ...items);
/** A SET OF, sorted as DER requires. */
export const set = (...items: Buffer[]): Buffer => der(0x31, ...[...items].sort(Buffer.compare));
export const integer = (n: number): Buffer => der(0x02, Buffer.from([n]));
export const octetString = (b: Buffer): Buffer => der(0x04, b);
export const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);
export const explicit = (n: number, ...items: Buffer[]): Buffer => der(0xa0 + n, ...items);

/** Encode a dotted object identifier. */
export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes: number[] = [parts[0]! * 40 + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}

/** Decode an object identifier's contents to dotted form. */
export function oidText(value: Buffer): string {
  const parts = [Math.floor(value[0]! / 40), value[0]! % 40];
  let acc = 0;
  for (const byte of value.subarray(1)) {
    acc = acc * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(acc);
      acc = 0;
    }
  }
  return parts.join('.');
}

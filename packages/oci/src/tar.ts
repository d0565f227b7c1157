import { DroverError } from '@drover/core';

/** Kind of a tar entry after PAX/GNU metadata records were folded into it. */
export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo' | 'other';

/** A point in time with nanoseconds (PAX mtime keeps fractions; ustar has whole seconds). */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** One tar member with every PAX/GNU extension applied. Offsets are in the uncompressed stream. */
export interface TarHeader {
  /** Path as written in the archive (UTF-8), not yet normalised. */
  path: string;
  type: TarEntryType;
  /** The raw type flag, e.g. `0`, `5`, `S`. */
  typeflag: string;
  /** Permission bits with setuid/setgid/sticky (`mode & 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: Timespec;
  /** Symlink target or hardlink target path. */
  linkname: string;
  devMajor: number;
  devMinor: number;
  /** Extended attributes from PAX `SCHILY.xattr.*` (and `LIBARCHIVE.xattr.*`), values as raw bytes. */
  xattrs: Map<string, Buffer>;
  /** Offset of this member's (last) 512-byte header in the uncompressed stream. */
  headerOffset: number;
  /** Offset of the first content byte in the uncompressed stream. */
  dataOffset: number;
}

/** A tar member being read: its header, plus its content (readable once, before moving to the next member). */
export interface TarEntry extends TarHeader {
  /** Stream this member's content. Only valid until the iteration moves on. */
  body(): AsyncIterable<Buffer>;
}

/** Limits that keep a hostile archive from exhausting memory. */
export interface ReadTarOptions {
  /** Largest PAX/GNU metadata record accepted, bytes (default 1 MiB). */
  maxMetadataSize?: number;
}

const EMPTY = Buffer.alloc(0);

function tarInvalid(message: string, offset: number): DroverError {
  return new DroverError('OCI_TAR_INVALID', `${message} (at byte ${offset} of the uncompressed layer)`, {
    hint: 'The layer is not a valid tar archive, or it is truncated; check the image source.',
    details: { offset },
  });
}

/** Reads exact byte counts from an async iterable of chunks, tracking the absolute position. */
export class ByteReader {
  readonly #it: AsyncIterator<Uint8Array>;
  #buf: Buffer = EMPTY;
  #pos = 0;
  #done = false;
  /** Bytes consumed so far. */
  position = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    while (this.#pos >= this.#buf.length) {
      if (this.#done) return false;
      const next = await this.#it.next();
      if (next.done) {
        this.#done = true;
        return false;
      }
      const v = next.value;
      this.#buf = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      this.#pos = 0;
    }
    return true;
  }

  /** Read exactly `n` bytes; undefined at a clean end of input, an error when the input ends midway. */
  async read(n: number): Promise<Buffer | undefined> {
    if (!(await this.#fill())) return undefined;
    if (this.#buf.length - this.#pos >= n) {
      const out = this.#buf.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      this.position += n;
      return out;
    }
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      if (!(await this.#fill())) throw tarInvalid('unexpected end of archive', this.position);
      const take = Math.min(need, this.#buf.length - this.#pos);
      parts.push(this.#buf.subarray(this.#pos, this.#pos + take));
      this.#pos += take;
      this.position += take;
      need -= take;
    }
    return Buffer.concat(parts, n);
  }

  /** Skip `n` bytes. */
  async skip(n: number): Promise<void> {
    let need = n;
    while (need > 0) {
      if (!(await this.#fill())) throw tarInvalid('unexpected end of archive', this.position);
      const take = Math.min(need, this.#buf.length - this.#pos);
      this.#pos += take;
      this.position += take;
      need -= take;
    }
  }

  /** Yield the next `n` bytes as chunks (no copies). */
  async *take(n: number): AsyncGenerator<Buffer> {
    let need = n;
    while (need > 0) {
      if (!(await this.#fill())) throw tarInvalid('unexpected end of archive', this.position);
      const take = Math.min(need, this.#buf.length - this.#pos);
      const chunk = this.#buf.subarray(this.#pos, this.#pos + take);
      this.#pos += take;
      this.position += take;
      need -= take;
      yield chunk;
    }
  }

  /** Stop reading: closes the input (its file, its decompressor) without consuming the rest. */
  async close(): Promise<void> {
    this.#done = true;
    await this.#it.return?.();
  }

  /** Consume the rest of the input (so that digest checks upstream run to the end). */
  async drain(): Promise<void> {
    while (await this.#fill()) {
      this.position += this.#buf.length - this.#pos;
      this.#pos = this.#buf.length;
    }
  }
}

function cstring(block: Buffer, start: number, length: number, encoding: BufferEncoding = 'utf8'): string {
  const end = block.indexOf(0, start);
  return block.toString(encoding, start, end >= start && end < start + length ? end : start + length);
}

function numeric(block: Buffer, start: number, length: number, offset: number): number {
  const first = block[start]!;
  if (first & 0x80) {
    // base-256 (GNU/star): big-endian two's complement, first byte's top bit is the marker
    const negative = first === 0xff;
    let value = negative ? -1 : first & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + block[start + i]! - (negative ? 255 : 0);
    if (!Number.isSafeInteger(value)) throw tarInvalid('numeric field out of range', offset);
    return value;
  }
  let value = 0;
  let seen = false;
  for (let i = start; i < start + length; i++) {
    const c = block[i]!;
    if (c === 0 || c === 0x20) {
      if (seen) break;
      continue;
    }
    if (c < 0x30 || c > 0x37) throw tarInvalid(`bad octal digit in header field`, offset);
    value = value * 8 + (c - 0x30);
    seen = true;
  }
  return value;
}

function checksumOk(block: Buffer): boolean {
  const stored = Number.parseInt(cstring(block, 148, 8, 'latin1').trim() || 'NaN', 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < 512; i++) if (block[i] !== 0) return false;
  return true;
}

interface PaxRecords {
  fields: Map<string, Buffer>;
}

/** Parse PAX extended header records (`<len> <key>=<value>\n`); values stay raw bytes (xattrs are binary). */
export function parsePax(data: Buffer, offset: number): PaxRecords {
  const fields = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad with NULs
    const space = data.indexOf(0x20, pos);
    if (space < 0) throw tarInvalid('bad PAX record', offset);
    const len = Number.parseInt(data.toString('latin1', pos, space), 10);
    if (!Number.isSafeInteger(len) || len <= space - pos || pos + len > data.length) {
      throw tarInvalid('bad PAX record length', offset);
    }
    const record = data.subarray(space + 1, pos + len - 1); // drop trailing \n
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw tarInvalid('PAX record without =', offset);
    fields.set(record.toString('utf8', 0, eq), record.subarray(eq + 1));
    pos += len;
  }
  return { fields };
}

function parsePaxTime(value: string, offset: number): Timespec {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value);
  if (!m) throw tarInvalid(`bad PAX time ${JSON.stringify(value)}`, offset);
  const sec = Number(m[2]) * (m[1] ? -1 : 1);
  const nsec = m[3] ? Number(m[3].slice(0, 9).padEnd(9, '0')) : 0;
  return m[1] && nsec ? { sec: sec - 1, nsec: 1e9 - nsec } : { sec, nsec };
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/**
 * Read a tar stream (ustar, PAX, GNU long names) member by member. Metadata members (`x`, `g`, `L`, `K`) are
 * folded into the member they describe. Unread content is skipped; the input is drained to its end so that a
 * digest check upstream sees every byte.
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
  options: ReadTarOptions = {},
): AsyncGenerator<TarEntry> {
  const maxMeta = options.maxMetadataSize ?? 1 << 20;
  const reader = new ByteReader(source);
  const global = new Map<string, Buffer>();
  let pax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  const readMeta = async (size: number, at: number): Promise<Buffer> => {
    if (size > maxMeta) {
      throw new DroverError(
        'OCI_TAR_METADATA_TOO_LARGE',
        `tar metadata record of ${size} bytes at byte ${at}`,
        {
          hint: `PAX/GNU metadata records are limited to ${maxMeta} bytes; the layer may be hostile.`,
        },
      );
    }
    const data = (await reader.read(size)) ?? EMPTY;
    await reader.skip(pad(size));
    return data;
  };
  for (;;) {
    const headerOffset = reader.position;
    const block = await reader.read(512);
    if (!block) break; // end without the two zero blocks: accepted like GNU tar does
    if (isZeroBlock(block)) {
      await reader.drain();
      break;
    }
    if (!checksumOk(block)) throw tarInvalid('header checksum mismatch', headerOffset);
    const typeflag = String.fromCharCode(block[156]!);
    const size = numeric(block, 124, 12, headerOffset);
    const magic = block.toString('latin1', 257, 263);
    switch (typeflag) {
      case 'x':
        pax = parsePax(await readMeta(size, headerOffset), headerOffset).fields;
        continue;
      case 'g':
        for (const [k, v] of parsePax(await readMeta(size, headerOffset), headerOffset).fields)
          global.set(k, v);
        continue;
      case 'L':
        longName = cstring(await readMeta(size, headerOffset), 0, size);
        continue;
      case 'K':
        longLink = cstring(await readMeta(size, headerOffset), 0, size);
        continue;
      default:
        break;
    }
    const fields = global.size ? new Map([...global, ...(pax ?? [])]) : (pax ?? new Map<string, Buffer>());
    let path = cstring(block, 0, 100);
    if (magic === 'ustar\x00' && block[345] !== 0) path = `${cstring(block, 345, 155)}/${path}`;
    if (longName !== undefined) path = longName;
    let linkname = longLink ?? cstring(block, 157, 100);
    let type: TarEntryType = TYPES[typeflag] ?? 'other';
    if (type === 'file' && typeflag !== '7' && path.endsWith('/')) type = 'dir';
    const header: TarEntry = {
      path,
      type,
      typeflag,
      mode: numeric(block, 100, 8, headerOffset) & 0o7777,
      uid: numeric(block, 108, 8, headerOffset),
      gid: numeric(block, 116, 8, headerOffset),
      uname: cstring(block, 265, 32),
      gname: cstring(block, 297, 32),
      size,
      mtime: { sec: numeric(block, 136, 12, headerOffset), nsec: 0 },
      linkname,
      devMajor: type === 'char' || type === 'block' ? numeric(block, 329, 8, headerOffset) : 0,
      devMinor: type === 'char' || type === 'block' ? numeric(block, 337, 8, headerOffset) : 0,
      xattrs: new Map(),
      headerOffset,
      dataOffset: headerOffset + 512,
      body: () => EMPTY_ITER,
    };
    for (const [key, raw] of fields) {
      if (key.startsWith('SCHILY.xattr.')) header.xattrs.set(key.slice(13), raw);
      else if (key.startsWith('LIBARCHIVE.xattr.')) {
        header.xattrs.set(decodeURIComponent(key.slice(17)), Buffer.from(raw.toString('latin1'), 'base64'));
      } else {
        const value = raw.toString('utf8');
        switch (key) {
          case 'path':
            header.path = value;
            break;
          case 'linkpath':
            linkname = value;
            header.linkname = value;
            break;
          case 'size':
            header.size = paxInt(value, headerOffset);
            break;
          case 'uid':
            header.uid = paxInt(value, headerOffset);
            break;
          case 'gid':
            header.gid = paxInt(value, headerOffset);
            break;
          case 'uname':
            header.uname = value;
            break;
          case 'gname':
            header.gname = value;
            break;
          case 'mtime':
            header.mtime = parsePaxTime(value, headerOffset);
            break;
          case 'SCHILY.devmajor':
            header.devMajor = paxInt(value, headerOffset);
            break;
          case 'SCHILY.devminor':
            header.devMinor = paxInt(value, headerOffset);
            break;
          default:
            break;
        }
      }
    }
    pax = undefined;
    longName = undefined;
    longLink = undefined;
    // Only regular files carry content; a hardlink/symlink/dir size field is ignored, as GNU tar does.
    const contentSize = type === 'file' || type === 'other' ? header.size : 0;
    if (type !== 'file') header.size = type === 'other' ? header.size : 0;
    let consumed = 0;
    if (contentSize > 0) {
      header.body = () => {
        if (consumed !== 0)
          throw new DroverError('OCI_TAR_BODY_REREAD', 'tar member content read twice', { kind: 'internal' });
        consumed = contentSize;
        return reader.take(contentSize);
      };
    }
    const before = reader.position;
    yield header;
    const read = reader.position - before;
    if (read < contentSize) await reader.skip(contentSize - read);
    await reader.skip(pad(contentSize));
  }
  if (pax || longName !== undefined || longLink !== undefined) {
    throw tarInvalid('archive ends after a metadata record', reader.position);
  }
}

const EMPTY_ITER: AsyncIterable<Buffer> = {
  async *[Symbol.asyncIterator]() {},
};

function paxInt(value: string, offset: number): number {
  if (!/^\d+$/.test(value)) throw tarInvalid(`bad PAX number ${JSON.stringify(value)}`, offset);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw tarInvalid('PAX number out of range', offset);
  return n;
}

function pad(size: number): number {
  return (512 - (size % 512)) % 512;
}

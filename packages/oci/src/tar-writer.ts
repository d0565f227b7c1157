import type { Readable } from 'node:stream';
import { DroverError } from '@drover/core';
import type { TarEntryType, Timespec } from './tar.js';

/** One member to write. Content is bytes in memory or a stream factory plus its size. */
export interface TarWriteEntry {
  path: string;
  type: Exclude<TarEntryType, 'other'>;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds, or seconds + nanoseconds (nanoseconds are written as a PAX mtime). */
  mtime?: number | Timespec;
  linkname?: string;
  devMajor?: number;
  devMinor?: number;
  xattrs?: Record<string, string | Uint8Array>;
  content?: Uint8Array | string;
  /** Stream content (with `size`) instead of `content`. */
  open?: () => Readable;
  size?: number;
}

/** How long names are written: PAX records (default) or GNU `././@LongLink` members. */
export interface TarWriteOptions {
  format?: 'pax' | 'gnu';
}

const TYPEFLAG: Record<TarWriteEntry['type'], string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

function octal(block: Buffer, value: number, start: number, length: number): void {
  const s = value.toString(8);
  if (s.length > length - 1) {
    // base-256 for values that do not fit (GNU extension, read by every modern tar)
    block[start] = 0x80;
    let v = value;
    for (let i = start + length - 1; i > start; i--) {
      block[i] = v % 256;
      v = Math.floor(v / 256);
    }
    return;
  }
  block.write(`${s.padStart(length - 1, '0')}\0`, start, length, 'latin1');
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

function header(
  name: string,
  typeflag: string,
  size: number,
  e: Partial<TarWriteEntry>,
  linkname = '',
  gnu = false,
): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 100, 'utf8');
  octal(block, e.mode ?? (typeflag === '5' ? 0o755 : 0o644), 100, 8);
  octal(block, e.uid ?? 0, 108, 8);
  octal(block, e.gid ?? 0, 116, 8);
  octal(block, size, 124, 12);
  const mtime = typeof e.mtime === 'object' ? e.mtime.sec : (e.mtime ?? 0);
  octal(block, Math.max(0, mtime), 136, 12);
  block.write(typeflag, 156, 1, 'latin1');
  block.write(linkname, 157, 100, 'utf8');
  if (gnu) block.write('ustar  \0', 257, 8, 'latin1');
  else block.write('ustar\x0000', 257, 8, 'latin1');
  block.write(e.uname ?? '', 265, 32, 'utf8');
  block.write(e.gname ?? '', 297, 32, 'utf8');
  octal(block, e.devMajor ?? 0, 329, 8);
  octal(block, e.devMinor ?? 0, 337, 8);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i]!;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return block;
}

function padding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

/**
 * Write a tar archive (deterministic: the same entries give the same bytes). Long names, xattrs and
 * sub-second times go into PAX records, or GNU long-name members with `format: 'gnu'`.
 */
export async function* writeTar(
  entries: Iterable<TarWriteEntry> | AsyncIterable<TarWriteEntry>,
  options: TarWriteOptions = {},
): AsyncGenerator<Buffer> {
  const gnu = options.format === 'gnu';
  for await (const e of entries) {
    const content = typeof e.content === 'string' ? Buffer.from(e.content, 'utf8') : e.content;
    const size = e.type === 'file' ? (content?.length ?? e.size ?? 0) : 0;
    const linkname = e.linkname ?? '';
    const nameBytes = Buffer.byteLength(e.path, 'utf8');
    const linkBytes = Buffer.byteLength(linkname, 'utf8');
    const records: Buffer[] = [];
    let name = e.path;
    let link = linkname;
    if (gnu) {
      if (nameBytes > 100) {
        const data = Buffer.from(`${e.path}\0`, 'utf8');
        yield header('././@LongLink', 'L', data.length, {}, '', true);
        yield data;
        yield padding(data.length);
        name = e.path.slice(0, 100);
      }
      if (linkBytes > 100) {
        const data = Buffer.from(`${linkname}\0`, 'utf8');
        yield header('././@LongLink', 'K', data.length, {}, '', true);
        yield data;
        yield padding(data.length);
        link = linkname.slice(0, 100);
      }
      if (e.xattrs && Object.keys(e.xattrs).length) {
        throw new DroverError('OCI_TAR_WRITE_UNSUPPORTED', 'xattrs need the PAX format', { kind: 'usage' });
      }
    } else {
      if (nameBytes > 100 || /[^\x20-\x7e]/.test(e.path)) {
        records.push(paxRecord('path', Buffer.from(e.path, 'utf8')));
        name = Buffer.from(e.path, 'utf8')
          .subarray(0, 100)
          .toString('latin1')
          .replace(/[^\x20-\x7e]/g, '_');
      }
      if (linkBytes > 100) {
        records.push(paxRecord('linkpath', Buffer.from(linkname, 'utf8')));
        link = '';
      }
      if (typeof e.mtime === 'object' && e.mtime.nsec) {
        records.push(
          paxRecord(
            'mtime',
            Buffer.from(`${e.mtime.sec}.${String(e.mtime.nsec).padStart(9, '0')}`, 'latin1'),
          ),
        );
      }
      for (const key of Object.keys(e.xattrs ?? {}).sort()) {
        const v = e.xattrs?.[key] ?? '';
        records.push(
          paxRecord(`SCHILY.xattr.${key}`, typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v)),
        );
      }
    }
    if (records.length) {
      const data = Buffer.concat(records);
      const paxName = `PaxHeaders/${Buffer.from(e.path)
        .subarray(0, 80)
        .toString('latin1')
        .replace(/[^\x20-\x7e]/g, '_')}`;
      yield header(paxName, 'x', data.length, { mtime: e.mtime ?? 0 });
      yield data;
      yield padding(data.length);
    }
    yield header(name, TYPEFLAG[e.type], size, e, link, gnu);
    if (size > 0) {
      if (content) yield Buffer.from(content);
      else if (e.open) {
        let seen = 0;
        for await (const chunk of e.open()) {
          seen += (chunk as Buffer).length;
          if (seen > size) break; // never write past the size in the header
          yield chunk as Buffer;
        }
        if (seen !== size) {
          throw new DroverError(
            'OCI_TAR_WRITE_SIZE',
            `${e.path}: stream gave ${seen} bytes, expected ${size}`,
            {
              kind: 'internal',
            },
          );
        }
      }
      yield padding(size);
    }
  }
  yield Buffer.alloc(1024);
}

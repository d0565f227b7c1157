import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTar, type TarHeader, writeTar } from '../src/index.js';
import { run, tarBytes, tempDir } from './helpers.js';

/** Every header of an archive (contents skipped). */
async function headers(bytes: Buffer): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const { body: _body, ...h } of readTar(Readable.from([bytes]))) out.push(h);
  return out;
}

/** A raw ustar header block, for records no tool here writes. */
function ustar(name: string, typeflag: string, size: number, linkname = ''): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write('0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  b.write('00000000000\0', 136, 'latin1');
  b.write(typeflag, 156, 'latin1');
  b.write(linkname, 157, 100, 'utf8');
  b.write('ustar\x0000', 257, 'latin1');
  b.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

/** PAX records `len key=value\n`. */
function pax(records: Array<[string, string | Buffer]>): Buffer {
  return Buffer.concat(
    records.map(([k, v]) => {
      const body = Buffer.concat([Buffer.from(` ${k}=`), Buffer.from(v), Buffer.from('\n')]);
      let len = body.length + 1;
      while (String(len).length + body.length !== len) len = String(len).length + body.length;
      return Buffer.concat([Buffer.from(String(len)), body]);
    }),
  );
}

/** A member: header, data, padding to 512. */
function member(header: Buffer, data: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

const END = Buffer.alloc(1024);

describe('tar reader: PAX and GNU records from GNU tar and hand-made archives', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const longTarget = `target/${'t'.repeat(140)}`;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'src', 'file.txt'), 'hello');
    await symlink(longTarget, join(dir, 'src', 'link'));
  });
  afterAll(() => cleanup());

  it('reads what GNU tar writes: global PAX headers, long owner names, long link targets (PAX and GNU)', async () => {
    const owner = `owner-${'o'.repeat(40)}`;
    await run('tar', [
      '--format=pax',
      '--pax-option=comment=made-by-the-test',
      `--owner=${owner}:3000000`,
      `--group=${owner}-group:3000001`,
      '--sort=name',
      '-C',
      join(dir, 'src'),
      '-cf',
      join(dir, 'pax.tar'),
      'file.txt',
      'link',
    ]);
    const [file, link] = await headers(await readFile(join(dir, 'pax.tar')));
    expect(file).toMatchObject({ path: 'file.txt', type: 'file', size: 5, uid: 3000000, gid: 3000001 });
    expect(file!.uname).toBe(owner); // longer than ustar's 32 bytes: a PAX uname record
    expect(file!.gname).toBe(`${owner}-group`);
    expect(link).toMatchObject({ path: 'link', type: 'symlink', linkname: longTarget });
    await run('tar', ['--format=gnu', '-C', join(dir, 'src'), '-cf', join(dir, 'gnu.tar'), 'link']);
    const [gnu] = await headers(await readFile(join(dir, 'gnu.tar')));
    expect(gnu).toMatchObject({ path: 'link', type: 'symlink', linkname: longTarget }); // ././@LongLink 'K'
  });

  it('writes long link targets as PAX linkpath or GNU LongLink that GNU tar lists back', async () => {
    for (const format of ['pax', 'gnu'] as const) {
      const bytes = await tarBytes(
        [
          { path: 'link', type: 'symlink', linkname: longTarget },
          { path: 'hard', type: 'hardlink', linkname: `${'h'.repeat(120)}/x` },
        ],
        format,
      );
      await writeFile(join(dir, `ours-${format}.tar`), bytes);
      const { stdout } = await run('tar', ['-tvf', join(dir, `ours-${format}.tar`)]);
      expect(stdout).toContain(`link -> ${longTarget}`);
      expect(stdout).toContain(`hard link to ${'h'.repeat(120)}/x`);
      expect((await headers(bytes)).map((h) => h.linkname)).toEqual([longTarget, `${'h'.repeat(120)}/x`]);
    }
    await expect(
      tarBytes([{ path: 'x', type: 'file', content: 'x', xattrs: { 'user.a': 'b' } }], 'gnu'),
    ).rejects.toMatchObject({ code: 'OCI_TAR_WRITE_UNSUPPORTED' });
  });

  it('writes streamed contents and refuses a stream of the wrong size', async () => {
    const bytes = await tarBytes([
      {
        path: 'streamed',
        type: 'file',
        size: 6,
        open: () => Readable.from([Buffer.from('abc'), Buffer.from('def')]),
      },
    ]);
    const [h] = await headers(bytes);
    expect(h).toMatchObject({ path: 'streamed', size: 6 });
    expect(bytes.subarray(h!.dataOffset, h!.dataOffset + 6).toString()).toBe('abcdef');
    const parts: Buffer[] = [];
    await expect(
      (async () => {
        for await (const c of writeTar([
          { path: 'short', type: 'file', size: 10, open: () => Readable.from([Buffer.from('abc')]) },
        ]))
          parts.push(c);
      })(),
    ).rejects.toMatchObject({ code: 'OCI_TAR_WRITE_SIZE' });
    await expect(
      tarBytes([{ path: 'long', type: 'file', size: 2, open: () => Readable.from([Buffer.from('abc')]) }]),
    ).rejects.toMatchObject({ code: 'OCI_TAR_WRITE_SIZE' });
  });

  it('applies every PAX override: size, owners, device numbers, LIBARCHIVE xattrs', async () => {
    const data = Buffer.from('twelve bytes');
    const records = pax([
      ['size', String(data.length)],
      ['uid', '4000000000'],
      ['gid', '7'],
      ['uname', 'ü-user'],
      ['gname', 'g'],
      ['linkpath', 'ignored-for-files'],
      ['mtime', '1700000000.25'],
      ['LIBARCHIVE.xattr.user.caf%C3%A9', Buffer.from('value').toString('base64')],
      ['SCHILY.xattr.security.capability', Buffer.from([1, 0, 0, 2])],
    ]);
    const dev = pax([
      ['SCHILY.devmajor', '8'],
      ['SCHILY.devminor', '1'],
    ]);
    const archive = Buffer.concat([
      member(ustar('././@PaxHeader', 'x', records.length), records),
      member(ustar('big', '0', 0), data), // the ustar size field says 0; PAX says 12
      member(ustar('././@PaxHeader', 'x', dev.length), dev),
      member(ustar('dev/sda1', '4', 0)),
      END,
    ]);
    const [file, block] = await headers(archive);
    expect(file).toMatchObject({
      path: 'big',
      size: 12,
      uid: 4000000000,
      gid: 7,
      uname: 'ü-user',
      gname: 'g',
    });
    expect(file?.mtime).toEqual({ sec: 1700000000, nsec: 250000000 });
    expect(file?.xattrs.get('user.café')?.toString()).toBe('value');
    expect([...(file?.xattrs.get('security.capability') ?? [])]).toEqual([1, 0, 0, 2]);
    expect(block).toMatchObject({ path: 'dev/sda1', type: 'block', devMajor: 8, devMinor: 1 });
  });

  it('rejects malformed PAX numbers, bad record lengths and metadata at the end of the archive', async () => {
    const bad = pax([['uid', '12abc']]);
    await expect(
      headers(Buffer.concat([member(ustar('p', 'x', bad.length), bad), member(ustar('f', '0', 0)), END])),
    ).rejects.toMatchObject({ code: 'OCI_TAR_INVALID' });
    const huge = pax([['size', '99999999999999999999']]);
    await expect(
      headers(Buffer.concat([member(ustar('p', 'x', huge.length), huge), member(ustar('f', '0', 0)), END])),
    ).rejects.toMatchObject({ code: 'OCI_TAR_INVALID' });
    const wrongLength = Buffer.from('99 path=x\n');
    await expect(
      headers(Buffer.concat([member(ustar('p', 'x', wrongLength.length), wrongLength), END])),
    ).rejects.toMatchObject({ code: 'OCI_TAR_INVALID' });
    const dangling = pax([['path', 'orphan']]);
    await expect(
      headers(Buffer.concat([member(ustar('p', 'x', dangling.length), dangling), END])),
    ).rejects.toMatchObject({ code: 'OCI_TAR_INVALID', message: expect.stringContaining('metadata') });
    const global = pax([['uname', 'everyone']]);
    const withGlobal = await headers(
      Buffer.concat([
        member(ustar('g', 'g', global.length), global),
        member(ustar('a', '0', 0)),
        member(ustar('b', '0', 0)),
        END,
      ]),
    );
    expect(withGlobal.map((h) => h.uname)).toEqual(['everyone', 'everyone']);
  });
});

import fc from 'fast-check';
import type { ErofsDirectory, ErofsFile, ErofsNode, ErofsTime } from '../src/index.js';

/** Deterministic pseudo-random bytes (xorshift) so contents can be regenerated for comparison. */
export function patternBytes(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A content callback yielding the pattern in uneven chunks (exercises the writer's chunk splitting). */
export function patternContent(seed: number, length: number, chunk = 3001): () => AsyncIterable<Uint8Array> {
  return async function* () {
    const bytes = patternBytes(seed, length);
    for (let off = 0; off < length; off += chunk) yield bytes.subarray(off, off + chunk);
  };
}

/** A valid POSIX ACL xattr blob (version 2): user::rw-, user:1000:r--, group::r--, mask::r--, other::---. */
export const ACL_ACCESS = Buffer.from(
  '02000000' +
    '0100' +
    '0600' +
    'ffffffff' +
    '0200' +
    '0400' +
    'e8030000' +
    '0400' +
    '0400' +
    'ffffffff' +
    '1000' +
    '0400' +
    'ffffffff' +
    '2000' +
    '0000' +
    'ffffffff',
  'hex',
);
/** user::rwx, group::r-x, other::r-x. */
export const ACL_DEFAULT = Buffer.from(
  '02000000' + '0100' + '0700' + 'ffffffff' + '0400' + '0500' + 'ffffffff' + '2000' + '0500' + 'ffffffff',
  'hex',
);
/** cap_net_bind_service+ep as a v2 vfs_cap_data blob. */
export const CAPABILITY = Buffer.from('0100000200040000000000000000000000000000', 'hex');
export const SELINUX = Buffer.from('system_u:object_r:bin_t:s0\0');

const T = (sec: number, nsec = 0): ErofsTime => ({ sec, nsec });

/** A fixed tree with every feature the writer supports. */
export function featureTree(): ErofsDirectory {
  const shared: ErofsFile = {
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: T(1_700_000_000),
    size: 5,
    content: Buffer.from('hello'),
  };
  const big = new Map<string, ErofsNode>();
  for (let i = 0; i < 1500; i++) {
    big.set(`entry-${String(i).padStart(4, '0')}-${'n'.repeat(i % 97)}`, {
      type: 'file',
      mode: 0o600,
      uid: i,
      gid: 2 * i,
      mtime: T(1_700_000_000 + (i % 3), i % 2 ? 123 : 0),
      size: i % 7 === 0 ? 0 : i,
      ...(i % 7 === 0 ? {} : { content: patternBytes(i, i) }),
    });
  }
  const children = new Map<string, ErofsNode>([
    ['hello.txt', shared],
    ['hardlink-to-hello', shared],
    [
      'linkid-a',
      {
        type: 'file',
        mode: 0o640,
        uid: 7,
        gid: 7,
        mtime: T(5),
        size: 3,
        content: Buffer.from('abc'),
        linkId: 'L',
      },
    ],
    [
      'linkid-b',
      {
        type: 'file',
        mode: 0o640,
        uid: 7,
        gid: 7,
        mtime: T(5),
        size: 3,
        content: Buffer.from('abc'),
        linkId: 'L',
      },
    ],
    ['empty', { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T(1_700_000_000), size: 0 }],
    [
      'setuid-cap',
      {
        type: 'file',
        mode: 0o4755,
        uid: 70_000,
        gid: 70_001,
        mtime: T(1_234_567_890, 987_654_321),
        size: 10_000,
        content: patternContent(1, 10_000),
        xattrs: {
          'security.capability': CAPABILITY,
          'security.selinux': SELINUX,
          'user.note': Buffer.from('x'),
        },
      },
    ],
    [
      'aligned-8192',
      {
        type: 'file',
        mode: 0o2755,
        uid: 0,
        gid: 0,
        mtime: T(1_700_000_000),
        size: 8192,
        content: patternContent(2, 8192),
      },
    ],
    [
      'fat-xattrs',
      {
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: T(1_700_000_000),
        size: 4000,
        content: patternBytes(3, 4000),
        xattrs: new Map([
          ['user.big', patternBytes(4, 3000)],
          ['trusted.t', Buffer.from('trusted-value')],
          ['system.posix_acl_access', ACL_ACCESS],
        ]),
      },
    ],
    [
      'before-1970',
      { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T(-1000, 5), size: 1, content: Buffer.from('o') },
    ],
    // Past 2106 (u32 seconds), within ext4's range for the fsck --extract comparison (ext4 stops in 2446).
    ['year-2242', { type: 'fifo', mode: 0o644, uid: 0, gid: 0, mtime: T(2 ** 33 + 7, 999_999_999) }],
    [
      'huge-xattrs',
      {
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: T(1_700_000_000),
        size: 5000,
        content: patternBytes(5, 5000),
        // ~9 KiB of xattrs: the inode's xattr body spans blocks.
        xattrs: {
          'user.a': patternBytes(6, 3000),
          'user.b': patternBytes(7, 3000),
          'trusted.c': patternBytes(8, 3000),
        },
      },
    ],
    [
      'long-symlink',
      {
        type: 'symlink',
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: T(1_700_000_000),
        target: `/${'s'.repeat(4000)}`,
      },
    ],
    ['symlink', { type: 'symlink', mode: 0o777, uid: 3, gid: 4, mtime: T(9, 9), target: '../hello.txt' }],
    [
      'null',
      { type: 'char', mode: 0o666, uid: 0, gid: 0, mtime: T(1_700_000_000), rdev: { major: 1, minor: 3 } },
    ],
    [
      'sdz',
      {
        type: 'block',
        mode: 0o660,
        uid: 0,
        gid: 6,
        mtime: T(1_700_000_000),
        rdev: { major: 300, minor: 70_000 },
      },
    ],
    ['fifo', { type: 'fifo', mode: 0o600, uid: 0, gid: 0, mtime: T(1_700_000_000) }],
    ['sock', { type: 'socket', mode: 0o755, uid: 0, gid: 0, mtime: T(1_700_000_000) }],
    [
      '!bang',
      {
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: T(1_700_000_000),
        size: 1,
        content: Buffer.from('!'),
      },
    ],
    [
      'ünïcødé-名前',
      {
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: T(1_700_000_000),
        size: 2,
        content: Buffer.from('u8'),
      },
    ],
    [`${'L'.repeat(255)}`, { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T(1_700_000_000), size: 0 }],
    [
      'tmp',
      {
        type: 'directory',
        mode: 0o1777,
        uid: 0,
        gid: 0,
        mtime: T(1_700_000_000),
        children: new Map<string, ErofsNode>([['hardlink-in-subdir', shared]]),
        xattrs: { 'system.posix_acl_default': ACL_DEFAULT, 'system.posix_acl_access': ACL_DEFAULT },
      },
    ],
    ['big', { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: T(1_700_000_000), children: big }],
    [
      'deep',
      {
        type: 'directory',
        mode: 0o700,
        uid: 1,
        gid: 1,
        mtime: T(42),
        children: new Map<string, ErofsNode>([
          ['a', { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: T(43), children: new Map() }],
        ]),
      },
    ],
  ]);
  return { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: T(1_700_000_000), children };
}

// ---- fast-check arbitraries ----

const nameChars = fc.constantFrom(...'abcxyzABC019._-!+~ é名'.split(''));
const nameArb = fc
  .oneof(
    { weight: 9, arbitrary: fc.string({ unit: nameChars, minLength: 1, maxLength: 24 }) },
    { weight: 1, arbitrary: fc.integer({ min: 60, max: 255 }).map((n) => 'q'.repeat(n)) },
  )
  .filter((n) => n !== '.' && n !== '..');

const timeArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ sec: 1_600_000_000, nsec: 0 }) },
  {
    weight: 2,
    arbitrary: fc.record({
      sec: fc.integer({ min: 0, max: 2 ** 33 }),
      nsec: fc.integer({ min: 0, max: 999_999_999 }),
    }),
  },
);
const idArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 100_000 }) },
);
const baseArb = fc.record({
  mode: fc.integer({ min: 0, max: 0o7777 }),
  uid: idArb,
  gid: idArb,
  mtime: timeArb,
});

const securityXattrs = fc.dictionary(
  fc.constantFrom('security.capability', 'security.selinux', 'trusted.a', 'trusted.bb'),
  fc.constant(null),
  { maxKeys: 3 },
);
const userXattrs = fc.dictionary(
  fc
    .string({ unit: fc.constantFrom(...'abcdef.-_'.split('')), minLength: 1, maxLength: 12 })
    .map((s) => `user.${s}`),
  fc.oneof(
    { weight: 5, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 500, max: 3500 }).map((n) => new Uint8Array(patternBytes(n, n))),
    },
  ),
  { maxKeys: 3 },
);

function xattrValues(keys: Record<string, null>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const k of Object.keys(keys)) {
    out[k] =
      k === 'security.capability' ? CAPABILITY : k === 'security.selinux' ? SELINUX : Buffer.from(`v-${k}`);
  }
  return out;
}

const fileArb = fc
  .record({
    base: baseArb,
    size: fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 200 }) },
      { weight: 3, arbitrary: fc.integer({ min: 200, max: 13_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((n) => n * 4096) },
    ),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    sec: securityXattrs,
    user: userXattrs,
    acl: fc.boolean(),
  })
  .map(({ base, size, seed, sec, user, acl }): ErofsNode => {
    const xattrs: Record<string, Uint8Array> = { ...xattrValues(sec), ...user };
    if (acl) xattrs['system.posix_acl_access'] = ACL_ACCESS;
    return {
      type: 'file',
      ...base,
      size,
      ...(size > 0
        ? { content: seed % 2 ? patternBytes(seed, size) : patternContent(seed, size, 1 + (seed % 5000)) }
        : {}),
      xattrs,
    };
  });

const otherArb: fc.Arbitrary<ErofsNode> = fc.oneof(
  fc
    .record({ base: baseArb, len: fc.integer({ min: 1, max: 4095 }), sec: securityXattrs })
    .map(({ base, len, sec }) => ({
      type: 'symlink' as const,
      ...base,
      mode: 0o777,
      target: `t${'x'.repeat(len - 1)}`,
      xattrs: xattrValues(sec),
    })),
  fc
    .record({
      base: baseArb,
      type: fc.constantFrom('char' as const, 'block' as const),
      major: fc.integer({ min: 0, max: 4095 }),
      minor: fc.integer({ min: 0, max: 0xfffff }),
    })
    .map(({ base, type, major, minor }) => ({ type, ...base, rdev: { major, minor } })),
  fc
    .record({ base: baseArb, type: fc.constantFrom('fifo' as const, 'socket' as const) })
    .map(({ base, type }) => ({ type, ...base })),
);

const dirMeta = fc.record({ base: baseArb, user: userXattrs, acl: fc.boolean() });

const { tree: treeArb } = fc.letrec<{ tree: ErofsNode; node: ErofsNode }>((tie) => ({
  tree: fc
    .record({
      meta: dirMeta,
      entries: fc.uniqueArray(fc.tuple(nameArb, tie('node')), { maxLength: 8, selector: ([n]) => n }),
    })
    .map(({ meta, entries }) => ({
      type: 'directory' as const,
      ...meta.base,
      xattrs: meta.acl ? { ...meta.user, 'system.posix_acl_default': ACL_DEFAULT } : meta.user,
      children: new Map(entries),
    })),
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: fileArb },
    { weight: 2, arbitrary: otherArb },
    { weight: 2, arbitrary: tie('tree') },
  ),
}));

/** Random trees: nested directories, every type, xattrs, ACLs, hardlinks and sometimes a large directory. */
export const randomTreeArb: fc.Arbitrary<ErofsDirectory> = fc
  .record({
    tree: treeArb as fc.Arbitrary<ErofsDirectory>,
    bigDir: fc.option(fc.integer({ min: 200, max: 1200 }), { freq: 4 }),
    links: fc.array(fc.tuple(fc.nat(), nameArb), { maxLength: 4 }),
  })
  .map(({ tree, bigDir, links }) => {
    // Copy the directories: fast-check may hand the same generated objects to several runs while shrinking.
    const clone = (d: ErofsDirectory): ErofsDirectory => ({
      ...d,
      children: new Map(
        [...(d.children as Map<string, ErofsNode>)].map(
          ([n, c]) => [n, c.type === 'directory' ? clone(c) : c] as const,
        ),
      ),
    });
    const root: ErofsDirectory = { ...clone(tree), mode: tree.mode | 0o700 };
    const dirs: ErofsDirectory[] = [];
    const files: ErofsNode[] = [];
    const walk = (d: ErofsDirectory): void => {
      dirs.push(d);
      for (const [, n] of d.children as Map<string, ErofsNode>) {
        if (n.type === 'directory') walk(n);
        else files.push(n);
      }
    };
    walk(root);
    // Hardlinks: the same node object under a second name.
    for (const [i, name] of links) {
      if (files.length === 0) break;
      const dir = dirs[i % dirs.length]!;
      const children = dir.children as Map<string, ErofsNode>;
      if (!children.has(name)) children.set(name, files[i % files.length]!);
    }
    if (bigDir !== null) {
      const entries = new Map<string, ErofsNode>();
      for (let i = 0; i < bigDir; i++) {
        entries.set(`f${i}${'_'.repeat(i % 40)}`, {
          type: 'fifo',
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: { sec: 1_600_000_000 },
        });
      }
      (root.children as Map<string, ErofsNode>).set('bigdir', {
        type: 'directory',
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: { sec: 1_600_000_000 },
        children: entries,
      });
    }
    return root;
  });

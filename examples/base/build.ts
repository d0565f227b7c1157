/**
 * Writes examples/base/layout: a tiny base image as an OCI image layout, built offline with @drover/oci's own
 * tar and layout writers. Uncompressed layers and fixed times make the digests identical on every machine
 * (gzip output may differ between zlib versions). Run from the repository root:
 *
 *   pnpm tsx examples/base/build.ts [OUT_DIR]
 */
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Descriptor, openLayout, type TarWriteEntry, writeImage } from '../../packages/oci/src/index.js';

/** 2023-11-14T22:13:20Z: every entry gets this mtime (a fixed SOURCE_DATE_EPOCH). */
export const BASE_EPOCH = 1_700_000_000;

const dir = (path: string, mode = 0o755): TarWriteEntry => ({
  path: `${path}/`,
  type: 'dir',
  mode,
  mtime: BASE_EPOCH,
});
const file = (path: string, content: string, mode = 0o644): TarWriteEntry => ({
  path,
  type: 'file',
  mode,
  content,
  mtime: BASE_EPOCH,
});
const symlink = (path: string, target: string): TarWriteEntry => ({
  path,
  type: 'symlink',
  linkname: target,
  mode: 0o777,
  mtime: BASE_EPOCH,
});

const OS_RELEASE = `NAME="drover base"
ID=drover-base
VERSION_ID=1
PRETTY_NAME="drover example base image 1"
HOME_URL="https://example.invalid/drover"
`;

/** The installed packages the dpkg database lists, with the files each one owns (paths as dpkg records them). */
const PACKAGES: { stanza: string[]; list: string[] }[] = [
  {
    stanza: [
      'Package: base-files',
      'Essential: yes',
      'Priority: required',
      'Section: admin',
      'Installed-Size: 12',
      'Maintainer: drover maintainers <maintainers@example.invalid>',
      'Architecture: amd64',
      'Version: 1.2.0',
      'Description: drover example base system miscellaneous files',
      ' This package contains the basic filesystem hierarchy of the drover example',
      ' base image and the os-release file.',
    ],
    list: [
      '/.',
      '/etc',
      '/etc/group',
      '/etc/hostname',
      '/etc/hosts',
      '/etc/os-release',
      '/etc/passwd',
      '/usr',
      '/usr/lib',
      '/usr/lib/os-release',
      '/usr/share',
      '/usr/share/doc',
      '/usr/share/doc/base-files',
      '/usr/share/doc/base-files/copyright',
    ],
  },
  {
    stanza: [
      'Package: libc6',
      'Priority: optional',
      'Section: libs',
      'Installed-Size: 4',
      'Maintainer: drover maintainers <maintainers@example.invalid>',
      'Architecture: amd64',
      'Multi-Arch: same',
      'Source: glibc',
      'Version: 2.36-9+drover1',
      'Description: GNU C Library: Shared libraries (example placeholder)',
      ' Stands in for the C library in the drover example base image; the file it',
      ' installs is a placeholder, not a real shared object.',
    ],
    list: [
      '/.',
      '/usr',
      '/usr/lib',
      '/usr/lib/x86_64-linux-gnu',
      '/usr/lib/x86_64-linux-gnu/libc.so.6',
      '/usr/share',
      '/usr/share/doc',
      '/usr/share/doc/libc6',
      '/usr/share/doc/libc6/copyright',
    ],
  },
  {
    stanza: [
      'Package: busybox',
      'Priority: optional',
      'Section: utils',
      'Installed-Size: 2',
      'Maintainer: drover maintainers <maintainers@example.invalid>',
      'Architecture: amd64',
      'Version: 1:1.36.1-3+drover1',
      'Depends: libc6 (>= 2.34)',
      'Description: Tiny utilities for small and embedded systems (example placeholder)',
      ' Provides /usr/bin/hello and a busybox stand-in for the drover example base image.',
    ],
    list: [
      '/.',
      '/bin',
      '/bin/busybox',
      '/bin/hello',
      '/usr',
      '/usr/share',
      '/usr/share/doc',
      '/usr/share/doc/busybox',
      '/usr/share/doc/busybox/copyright',
    ],
  },
];

/** `var/lib/dpkg/status`: what dpkg writes for installed packages (sorted by name, as dpkg does). */
function dpkgStatus(): string {
  return PACKAGES.map(({ stanza }) => {
    const [first, ...rest] = stanza;
    return `${[first, 'Status: install ok installed', ...rest].join('\n')}\n`;
  }).join('\n');
}

function dpkgInfo(): TarWriteEntry[] {
  return PACKAGES.flatMap(({ stanza, list }) => {
    const name = stanza[0]!.slice('Package: '.length);
    const multiArch = stanza.includes('Multi-Arch: same') ? ':amd64' : '';
    return [file(`var/lib/dpkg/info/${name}${multiArch}.list`, `${list.join('\n')}\n`)];
  });
}

const copyright = (name: string, license: string): TarWriteEntry =>
  file(
    `usr/share/doc/${name}/copyright`,
    `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: ${name}\n\nFiles: *\nLicense: ${license}\n`,
  );

/** Layer 1: a merged-/usr skeleton with the files an OS image build expects, and a dpkg database. */
function skeleton(): TarWriteEntry[] {
  return [
    symlink('bin', 'usr/bin'),
    dir('dev'),
    dir('etc'),
    file('etc/group', 'root:x:0:\nnogroup:x:65534:\n'),
    file('etc/hostname', 'drover\n'),
    file('etc/hosts', '127.0.0.1 localhost\n::1 localhost\n'),
    symlink('etc/os-release', '../usr/lib/os-release'),
    file(
      'etc/passwd',
      'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
    ),
    file('etc/shadow', 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n', 0o640),
    symlink('lib', 'usr/lib'),
    dir('proc'),
    dir('root', 0o700),
    dir('run'),
    symlink('sbin', 'usr/sbin'),
    dir('sys'),
    dir('tmp', 0o1777),
    dir('usr'),
    dir('usr/bin'),
    file(
      'usr/bin/busybox',
      '#!/bin/sh\n# placeholder for busybox in the drover example base image\nexit 0\n',
      0o755,
    ),
    file('usr/bin/hello', '#!/bin/sh\necho "hello from the drover base image"\n', 0o755),
    dir('usr/lib'),
    file('usr/lib/os-release', OS_RELEASE),
    dir('usr/lib/x86_64-linux-gnu'),
    file('usr/lib/x86_64-linux-gnu/libc.so.6', 'placeholder: not a real C library\n', 0o644),
    dir('usr/sbin'),
    dir('usr/share'),
    dir('usr/share/doc'),
    dir('usr/share/doc/base-files'),
    copyright('base-files', 'Apache-2.0'),
    dir('usr/share/doc/busybox'),
    copyright('busybox', 'GPL-2.0-only'),
    dir('usr/share/doc/libc6'),
    copyright('libc6', 'LGPL-2.1-or-later'),
    file(
      'usr/share/doc/README',
      'This is a tiny example base image for drover recipes; it has no package manager.\n',
    ),
    dir('var'),
    dir('var/lib'),
    dir('var/lib/dpkg'),
    dir('var/lib/dpkg/info'),
    ...dpkgInfo(),
    file('var/lib/dpkg/status', dpkgStatus()),
    dir('var/log'),
    symlink('var/run', '../run'),
    dir('var/tmp', 0o1777),
  ];
}

/** Layer 2: an "update" layer, to show whiteouts: it replaces the motd and removes the doc file. */
function update(): TarWriteEntry[] {
  return [
    dir('etc'),
    file('etc/motd', 'Welcome to the drover example base image.\n'),
    dir('usr/share/doc'),
    { path: 'usr/share/doc/.wh.README', type: 'file', mode: 0, content: '', mtime: BASE_EPOCH },
    file('usr/share/doc/base.txt', 'Built by examples/base/build.ts with @drover/oci.\n'),
  ];
}

/** Build the example layout into `out` (replacing it) and return the tagged manifest descriptor. */
export async function buildBaseImage(out: string): Promise<Descriptor> {
  await rm(out, { recursive: true, force: true });
  const layout = await openLayout({ dir: out, create: true });
  return writeImage({
    layout,
    tag: 'latest',
    layers: [
      { entries: skeleton(), compression: 'none' },
      { entries: update(), compression: 'none' },
    ],
    config: {
      created: new Date(BASE_EPOCH * 1000).toISOString(),
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin'], Cmd: ['/usr/bin/hello'] },
      history: [
        {
          created: new Date(BASE_EPOCH * 1000).toISOString(),
          created_by: 'examples/base/build.ts: skeleton',
        },
        { created: new Date(BASE_EPOCH * 1000).toISOString(), created_by: 'examples/base/build.ts: update' },
      ],
    },
    annotations: {
      'org.opencontainers.image.title': 'drover example base',
      'org.opencontainers.image.version': '1',
    },
  });
}

const here = dirname(fileURLToPath(import.meta.url));
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? join(here, 'layout');
  const descriptor = await buildBaseImage(out);
  process.stdout.write(`${out}:latest ${descriptor.digest}\n`);
}

import { type Context, DroverError, resolveContext, throwIfAborted } from '@drover/core';
import { ByteReader, decompress, type RootfsTree, type TreeInode, type TreeNode } from '@drover/oci';

/** A package found in the image's package databases. */
export interface PackageInfo {
  name: string;
  version: string;
  /** `deb`, `apk` or `rpm`. */
  type: 'deb' | 'apk' | 'rpm';
  arch?: string;
  license?: string;
  /** Source package, when the database says. */
  source?: string;
  /** purl, e.g. `pkg:deb/debian/openssl@3.0.11-1?arch=amd64`. */
  purl: string;
  /** Installed files the database lists (paths in the image), when it lists them. */
  files?: string[];
}

/** Options for {@link findPackages}. */
export interface FindPackagesOptions {
  tree: RootfsTree;
}

/** One package database found in a tree. */
export interface PackageDatabase {
  type: 'deb' | 'apk' | 'rpm';
  /** Absolute path in the image (`/var/lib/dpkg/status`, `/var/lib/dpkg/status.d`, `/lib/apk/db/installed`, …). */
  path: string;
  /** Packages read from it (0 for databases drover cannot read, see `warnings`). */
  packages: number;
}

/** Everything {@link scanPackageDatabases} found: packages, the databases they came from, and what it skipped. */
export interface PackageScan {
  packages: PackageInfo[];
  databases: PackageDatabase[];
  /** The distribution from `/etc/os-release` (`ID`, `VERSION_ID`), when there is one. */
  os?: { id: string; versionId?: string; prettyName?: string };
  /** Databases present but not read (rpm), malformed entries skipped. */
  warnings: string[];
}

const MAX_SYMLINKS = 40;
const MAX_DB_BYTES = 512 * 1024 * 1024;

/**
 * Resolve `path` in the tree following symlinks in every component (and in the last one unless `noFollowLast`),
 * like the kernel would inside a chroot. Returns the canonical path (no leading slash) and the node.
 */
export function resolveTreePath(
  tree: RootfsTree,
  path: string,
  noFollowLast = false,
): { path: string; node: TreeNode } | undefined {
  let hops = 0;
  const stack: TreeNode[] = [tree.root];
  const names: string[] = [];
  let pending = path.split('/').filter((p) => p !== '' && p !== '.');
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      if (stack.length > 1) {
        stack.pop();
        names.pop();
      }
      continue;
    }
    const parent = stack[stack.length - 1]!;
    const node = parent.children?.get(part);
    if (!node) return undefined;
    if (node.inode.type === 'symlink' && !(noFollowLast && pending.length === 0)) {
      if (++hops > MAX_SYMLINKS) return undefined;
      const target = node.inode.target ?? '';
      const parts = target.split('/').filter((p) => p !== '' && p !== '.');
      if (target.startsWith('/')) {
        stack.length = 1;
        names.length = 0;
      }
      pending = [...parts, ...pending];
      continue;
    }
    if (pending.length > 0 && !node.children) return undefined;
    stack.push(node);
    names.push(part);
  }
  return { path: names.join('/'), node: stack[stack.length - 1]! };
}

function tooLarge(path: string, size: number): DroverError {
  return new DroverError('SBOM_DATABASE_TOO_LARGE', `${path} is ${size} bytes`, {
    kind: 'input',
    hint: `Package databases larger than ${MAX_DB_BYTES} bytes are not read.`,
    details: { path },
  });
}

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/**
 * Reads small files (package databases) from a tree. `prefetch` reads a batch in at most one pass per compressed
 * layer, stopping after the last wanted file: opening each file on its own would decompress a gzip/zstd layer
 * from its start once per file (hundreds of `.list` files).
 */
class TreeFiles {
  readonly #tree: RootfsTree;
  readonly #data = new Map<number, Buffer>();

  constructor(tree: RootfsTree) {
    this.#tree = tree;
  }

  #fileAt(path: string): { path: string; inode: TreeInode } | undefined {
    const found = resolveTreePath(this.#tree, path);
    if (!found || found.node.inode.type !== 'file') return undefined;
    if (found.node.inode.size > MAX_DB_BYTES) throw tooLarge(`/${found.path}`, found.node.inode.size);
    return { path: found.path, inode: found.node.inode };
  }

  async prefetch(paths: Iterable<string>, ctx: Context): Promise<void> {
    const byLayer = new Map<number, TreeInode[]>();
    for (const path of paths) {
      const inode = this.#fileAt(path)?.inode;
      if (!inode || this.#data.has(inode.id)) continue;
      const content = inode.content;
      const layer = content?.kind === 'layer' ? this.#tree.layers[content.layer] : undefined;
      if (
        !content ||
        content.kind !== 'layer' ||
        !layer ||
        (layer.openRange && layer.compression === 'none')
      ) {
        this.#data.set(inode.id, await collect(this.#tree.openContent(inode)));
        continue;
      }
      const list = byLayer.get(content.layer) ?? [];
      if (!list.includes(inode)) list.push(inode);
      byLayer.set(content.layer, list);
    }
    for (const [index, inodes] of byLayer) {
      throwIfAborted(ctx);
      const offset = (i: TreeInode) => (i.content as { offset: number }).offset;
      inodes.sort((a, b) => offset(a) - offset(b));
      const source = this.#tree.layers[index]!.open();
      const stream = decompress(source);
      const reader = new ByteReader(stream);
      try {
        for (const inode of inodes) {
          await reader.skip(offset(inode) - reader.position);
          this.#data.set(inode.id, await collect(reader.take(inode.size)));
        }
      } finally {
        stream.destroy();
        source.destroy();
      }
    }
  }

  async read(path: string): Promise<string | undefined> {
    const file = this.#fileAt(path);
    if (!file) return undefined;
    let data = this.#data.get(file.inode.id);
    if (!data) {
      data = await collect(this.#tree.openContent(file.inode));
      this.#data.set(file.inode.id, data);
    }
    return data.toString('utf8');
  }
}

/** Parse `KEY=value` lines of os-release (quotes and backslash escapes removed). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!.trim();
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) {
      value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    out[m[1]!] = value;
  }
  return out;
}

/** Split a deb822 / dpkg status text into stanzas of fields (continuation lines joined with `\n`). */
export function parseDeb822(text: string): Record<string, string>[] {
  const stanzas: Record<string, string>[] = [];
  let current: Record<string, string> = {};
  let last: string | undefined;
  const flush = () => {
    if (Object.keys(current).length > 0) stanzas.push(current);
    current = {};
    last = undefined;
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') {
      flush();
      continue;
    }
    if ((line.startsWith(' ') || line.startsWith('\t')) && last) {
      current[last] = `${current[last]}\n${line.slice(1)}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim();
    current[last] = line.slice(colon + 1).trim();
  }
  flush();
  return stanzas;
}

/** Percent-encode a purl component (everything but unreserved characters). */
function purlEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Build a package URL: `pkg:<type>/<namespace>/<name>@<version>?<qualifiers sorted by key>`. */
export function packageUrl(
  type: string,
  namespace: string,
  name: string,
  version: string,
  qualifiers: Record<string, string | undefined> = {},
): string {
  const q = Object.entries(qualifiers)
    .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([k, v]) => `${k}=${purlEncode(v)}`)
    .join('&');
  return `pkg:${type}/${purlEncode(namespace.toLowerCase())}/${purlEncode(name)}@${purlEncode(version)}${q ? `?${q}` : ''}`;
}

/** Map database file paths to paths that exist in the tree (through symlinked directories such as `/bin`). */
function canonicalFiles(tree: RootfsTree, listed: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const raw of listed) {
    const path = raw.trim();
    if (path === '' || path === '/.' || path === '/') continue;
    const found = resolveTreePath(tree, path, true);
    if (!found || found.node.inode.type === 'dir') continue;
    // A directory the package ships that the image turned into a symlink (merged /usr: /bin -> usr/bin).
    if (found.node.inode.type === 'symlink' && resolveTreePath(tree, path)?.node.inode.type === 'dir')
      continue;
    out.add(`/${found.path}`);
  }
  return [...out].sort(byBytes);
}

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function osInfo(fields: Record<string, string>): PackageScan['os'] {
  if (!fields.ID) return undefined;
  return {
    id: fields.ID.toLowerCase(),
    ...(fields.VERSION_ID ? { versionId: fields.VERSION_ID } : {}),
    ...(fields.PRETTY_NAME ? { prettyName: fields.PRETTY_NAME } : {}),
  };
}

function dpkgListPaths(name: string, arch?: string): string[] {
  return (arch ? [`${name}:${arch}`, name] : [name]).map((c) => `var/lib/dpkg/info/${c}.list`);
}

async function dpkgFileList(files: TreeFiles, name: string, arch?: string): Promise<string[] | undefined> {
  for (const path of dpkgListPaths(name, arch)) {
    const text = await files.read(path);
    if (text !== undefined) return text.split('\n');
  }
  return undefined;
}

function isInstalled(stanza: Record<string, string>): boolean {
  const status = stanza.Status;
  // Distroless status.d entries have no Status field; dpkg's own has "want flag status".
  if (status === undefined) return true;
  const words = status.split(/\s+/);
  return (
    words[2] === 'installed' ||
    words[2] === 'half-configured' ||
    words[2] === 'triggers-awaited' ||
    words[2] === 'triggers-pending' ||
    words[2] === 'unpacked'
  );
}

async function debPackages(
  tree: RootfsTree,
  files: TreeFiles,
  ctx: Context,
  stanzas: Record<string, string>[],
  distro: PackageScan['os'],
  warnings: string[],
  where: string,
  fileLists: Map<string, string[]> = new Map(),
): Promise<PackageInfo[]> {
  const out: PackageInfo[] = [];
  await files.prefetch(
    stanzas
      .filter((s) => s.Package && !fileLists.has(s.Package))
      .flatMap((s) => dpkgListPaths(s.Package!, s.Architecture)),
    ctx,
  );
  for (const s of stanzas) {
    if (!s.Package || !s.Version) {
      warnings.push(`${where}: skipped an entry without Package or Version`);
      continue;
    }
    if (!isInstalled(s)) continue;
    const arch = s.Architecture;
    const source = s.Source ? s.Source.split(/\s+/)[0] : undefined;
    const pkg: PackageInfo = {
      name: s.Package,
      version: s.Version,
      type: 'deb',
      purl: packageUrl('deb', distro?.id ?? 'debian', s.Package, s.Version, {
        arch,
        distro: distro?.versionId ? `${distro.id}-${distro.versionId}` : undefined,
      }),
    };
    if (arch) pkg.arch = arch;
    if (source && source !== s.Package) pkg.source = source;
    const listed = fileLists.get(s.Package) ?? (await dpkgFileList(files, s.Package, arch));
    if (listed) pkg.files = canonicalFiles(tree, listed);
    out.push(pkg);
  }
  return out;
}

async function apkPackages(
  tree: RootfsTree,
  text: string,
  distro: PackageScan['os'],
  warnings: string[],
): Promise<PackageInfo[]> {
  const out: PackageInfo[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    const files: string[] = [];
    let dir = '';
    for (const line of block.split('\n')) {
      const m = /^([A-Za-z]):(.*)$/.exec(line);
      if (!m) continue;
      const [, key, value] = m as unknown as [string, string, string];
      if (key === 'F') dir = value;
      else if (key === 'R') files.push(`/${dir ? `${dir}/` : ''}${value}`);
      else if (!(key in fields)) fields[key] = value;
    }
    if (Object.keys(fields).length === 0) continue;
    if (!fields.P || !fields.V) {
      warnings.push('/lib/apk/db/installed: skipped an entry without P: or V:');
      continue;
    }
    const pkg: PackageInfo = {
      name: fields.P,
      version: fields.V,
      type: 'apk',
      purl: packageUrl('apk', distro?.id ?? 'alpine', fields.P, fields.V, {
        arch: fields.A,
        distro: distro?.versionId ? `${distro.id}-${distro.versionId}` : undefined,
      }),
    };
    if (fields.A) pkg.arch = fields.A;
    if (fields.L) pkg.license = fields.L;
    if (fields.o && fields.o !== fields.P) pkg.source = fields.o;
    if (files.length > 0) pkg.files = canonicalFiles(tree, files);
    out.push(pkg);
  }
  return out;
}

const RPM_DATABASES = [
  'var/lib/rpm/rpmdb.sqlite',
  'var/lib/rpm/Packages',
  'var/lib/rpm/Packages.db',
  'usr/lib/sysimage/rpm/rpmdb.sqlite',
  'usr/lib/sysimage/rpm/Packages',
  'usr/lib/sysimage/rpm/Packages.db',
];

/** Read every package database of a tree: dpkg (`status`, distroless `status.d`), apk; rpm is detected only. */
export async function scanPackageDatabases(
  options: FindPackagesOptions,
  ctx: Context = {},
): Promise<PackageScan> {
  const { tree } = options;
  const warnings: string[] = [];
  const databases: PackageDatabase[] = [];
  const packages: PackageInfo[] = [];
  throwIfAborted(ctx);
  const files = new TreeFiles(tree);
  const statusD = resolveTreePath(tree, 'var/lib/dpkg/status.d');
  const statusDFiles = statusD?.node.children
    ? tree
        .children(statusD.node)
        .filter((c) => c.inode.type === 'file')
        .map((c) => `${statusD.path}/${c.name}`)
    : [];
  await files.prefetch(
    ['etc/os-release', 'usr/lib/os-release', 'var/lib/dpkg/status', 'lib/apk/db/installed', ...statusDFiles],
    ctx,
  );

  const osText = (await files.read('etc/os-release')) ?? (await files.read('usr/lib/os-release'));
  const os = osText === undefined ? undefined : osInfo(parseOsRelease(osText));

  const status = await files.read('var/lib/dpkg/status');
  if (status !== undefined) {
    const found = await debPackages(
      tree,
      files,
      ctx,
      parseDeb822(status),
      os,
      warnings,
      '/var/lib/dpkg/status',
    );
    databases.push({ type: 'deb', path: '/var/lib/dpkg/status', packages: found.length });
    packages.push(...found);
  }
  throwIfAborted(ctx);

  if (statusD?.node.children) {
    const stanzas: Record<string, string>[] = [];
    const lists = new Map<string, string[]>();
    for (const path of statusDFiles) {
      const name = path.slice(path.lastIndexOf('/') + 1);
      const text = (await files.read(path)) ?? '';
      if (name.endsWith('.md5sums')) {
        // "<md5>  <path without leading slash>"
        lists.set(
          name.slice(0, -'.md5sums'.length),
          text
            .split('\n')
            .map((l) => l.replace(/^[0-9a-f]+\s+/, ''))
            .filter((l) => l !== '')
            .map((l) => `/${l}`),
        );
      } else stanzas.push(...parseDeb822(text));
    }
    const found = await debPackages(tree, files, ctx, stanzas, os, warnings, '/var/lib/dpkg/status.d', lists);
    databases.push({ type: 'deb', path: '/var/lib/dpkg/status.d', packages: found.length });
    packages.push(...found);
  }
  throwIfAborted(ctx);

  const apk = await files.read('lib/apk/db/installed');
  if (apk !== undefined) {
    const found = await apkPackages(tree, apk, os, warnings);
    databases.push({ type: 'apk', path: '/lib/apk/db/installed', packages: found.length });
    packages.push(...found);
  }

  for (const path of RPM_DATABASES) {
    if (resolveTreePath(tree, path)?.node.inode.type === 'file') {
      databases.push({ type: 'rpm', path: `/${path}`, packages: 0 });
      warnings.push(
        `rpm database /${path} found but not read: drover does not read rpm databases yet, so rpm packages are missing from the SBOM`,
      );
      break;
    }
  }

  // One entry per (type, name, arch, version): status and status.d may both list a package.
  const unique = new Map<string, PackageInfo>();
  for (const p of packages) unique.set(`${p.type}\0${p.name}\0${p.arch ?? ''}\0${p.version}`, p);
  const sorted = [...unique.values()].sort(
    (a, b) =>
      byBytes(a.type, b.type) ||
      byBytes(a.name, b.name) ||
      byBytes(a.arch ?? '', b.arch ?? '') ||
      byBytes(a.version, b.version),
  );
  return { packages: sorted, databases, ...(os ? { os } : {}), warnings };
}

/** Read the package databases of a tree: dpkg `status`, apk `installed` (and rpm where feasible). */
export async function findPackages(options: FindPackagesOptions, ctx: Context = {}): Promise<PackageInfo[]> {
  const scan = await scanPackageDatabases(options, ctx);
  const { logger } = resolveContext(ctx);
  for (const warning of scan.warnings) logger.warn(warning);
  return scan.packages;
}

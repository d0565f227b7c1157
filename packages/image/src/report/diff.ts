import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type Artifact,
  type Context,
  DroverError,
  digestBytes,
  type ImageRecord,
  type PartitionRecord,
  throwIfAborted,
  toDroverError,
} from '@drover/core';
import type { FileEntry, FileManifest } from '../sbom/files.js';
import { sbomPackages } from '../sbom/spdx.js';
import { artifactPath, readImageRecord, recordPathOf } from './inspect.js';
import { compareDebianVersions } from './version.js';

/** Options for {@link diffImages}. */
export interface DiffImagesOptions {
  /** Each: a build output directory or its `image.json` (the record lists `files.json` and the SBOM). */
  old: string;
  new: string;
}

/** One side of a diff. */
export interface ImageSide {
  name: string;
  version: string;
  rootHash?: string;
  variant?: string;
  /** Absolute path of the image.json read. */
  recordPath: string;
  filesystem?: { type: string; size: number };
  /** Size of the disk artifact, when there is one. */
  diskSize?: number;
  /** Entries in files.json (absent without one) and the bytes of its regular files. */
  entries?: number;
  fileBytes?: number;
  /** Packages in the SBOM (absent without one). */
  packages?: number;
}

/** What differs about one path. */
export type FileChangeKind =
  | 'type'
  | 'content'
  | 'size'
  | 'mode'
  | 'owner'
  | 'target'
  | 'device'
  | 'xattrs'
  | 'link';

/** A path added, removed or changed. */
export interface FileChange {
  path: string;
  type: FileEntry['type'];
  oldSize?: number;
  newSize?: number;
  /** newSize − oldSize (added: +newSize, removed: −oldSize). */
  sizeDelta: number;
  /** Changed entries: what changed. */
  changes?: FileChangeKind[];
  /** Old → new values of the metadata that changed (modes in octal). */
  details?: Partial<Record<'type' | 'mode' | 'owner' | 'target' | 'device' | 'link', [string, string]>>;
}

/** A package added, removed or whose version changed. */
export interface PackageChange {
  name: string;
  /** Package type and architecture from the purl, e.g. `deb amd64`. */
  kind?: string;
  oldVersion?: string;
  newVersion?: string;
  /** Version changes of deb packages, ordered as dpkg orders versions. */
  direction?: 'upgrade' | 'downgrade';
}

/** A partition present on either side, matched by GPT entry number. */
export interface PartitionChange {
  number: number;
  label: string;
  oldSize?: number;
  newSize?: number;
  sizeDelta: number;
  /** `added`, `removed`, or what changed: `label`, `type`, `offset`, `size`, `uuid`, `content`, `attributes`. */
  changes: string[];
}

/** An artifact present on either side. */
export interface ArtifactChange {
  name: string;
  oldSize?: number;
  newSize?: number;
  sizeDelta: number;
  status: 'added' | 'removed' | 'changed' | 'unchanged';
}

/** The reviewer's report (shape owned by the report lane). */
export interface ImageDiff {
  old: ImageSide;
  new: ImageSide;
  rootHashChanged: boolean;
  /** Absent when either side has no files.json. */
  files?: { added: FileChange[]; removed: FileChange[]; changed: FileChange[]; unchanged: number };
  /** Absent when either side has no SBOM. */
  packages?: {
    added: PackageChange[];
    removed: PackageChange[];
    changed: PackageChange[];
    unchanged: number;
  };
  partitions: PartitionChange[];
  artifacts: ArtifactChange[];
  totals: {
    filesAdded: number;
    filesRemoved: number;
    filesChanged: number;
    /** Regular-file bytes, new − old. */
    fileBytesDelta: number;
    packagesAdded: number;
    packagesRemoved: number;
    packagesChanged: number;
    filesystemSizeDelta?: number;
    diskSizeDelta?: number;
  };
  /** What could not be compared and why. */
  notes: string[];
  [key: string]: unknown;
}

interface Loaded {
  record: ImageRecord;
  recordPath: string;
  files?: FileManifest;
  sbom?: Record<string, unknown>;
}

async function loadArtifactJson(
  record: ImageRecord,
  recordPath: string,
  name: string,
): Promise<unknown | undefined> {
  const artifact = record.artifacts.find((a) => a.name === name);
  if (!artifact) return undefined;
  const file = artifactPath(dirname(recordPath), artifact.path);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DroverError('IMAGE_ARTIFACT_MISSING', `${file} is listed in ${recordPath} but missing`, {
        kind: 'not-found',
        hint: 'Diff complete build output directories (image.json with its files.json and sbom.spdx.json).',
        details: { record: recordPath, artifact: name, path: file },
      });
    }
    throw toDroverError(error, `reading ${file}`);
  }
  const digest = digestBytes(bytes, artifact.digest.startsWith('sha512:') ? 'sha512' : 'sha256');
  if (digest !== artifact.digest) {
    throw new DroverError('IMAGE_ARTIFACT_DIGEST', `${file} does not match the digest in ${recordPath}`, {
      kind: 'integrity',
      hint: 'The output directory was changed after the build; rebuild it or check `drover image inspect --verify`.',
      details: { path: file, expected: artifact.digest, actual: digest },
    });
  }
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new DroverError('IMAGE_ARTIFACT_INVALID', `${file} is not valid JSON`, {
      kind: 'input',
      hint: 'Rebuild the image.',
      cause: error,
      details: { path: file },
    });
  }
}

async function load(path: string): Promise<Loaded> {
  const recordPath = await recordPathOf(path);
  const record = await readImageRecord(recordPath);
  const loaded: Loaded = { record, recordPath };
  const files = (await loadArtifactJson(record, recordPath, 'files')) as FileManifest | undefined;
  if (files !== undefined) {
    if (!files || files.schemaVersion !== 1 || !Array.isArray(files.files)) {
      throw new DroverError(
        'IMAGE_FILES_INVALID',
        `the files.json of ${recordPath} is not a drover file manifest`,
        {
          kind: 'input',
          hint: 'Rebuild the image with this drover version.',
          details: { record: recordPath },
        },
      );
    }
    loaded.files = files;
  }
  const sbom = (await loadArtifactJson(record, recordPath, 'sbom')) as Record<string, unknown> | undefined;
  if (sbom !== undefined) {
    if (!sbom || typeof sbom !== 'object' || !String(sbom.spdxVersion ?? '').startsWith('SPDX-')) {
      throw new DroverError('IMAGE_SBOM_INVALID', `the SBOM of ${recordPath} is not an SPDX JSON document`, {
        kind: 'input',
        hint: 'Rebuild the image with this drover version.',
        details: { record: recordPath },
      });
    }
    loaded.sbom = sbom;
  }
  return loaded;
}

function side(l: Loaded): ImageSide {
  const r = l.record;
  const disk = r.artifacts.find((a) => a.name === 'disk');
  const out: ImageSide = { name: r.name, version: r.version, recordPath: l.recordPath };
  if (r.verity?.rootHash) out.rootHash = r.verity.rootHash;
  if (r.variant) out.variant = r.variant;
  if (r.filesystem) out.filesystem = { type: r.filesystem.type, size: r.filesystem.size };
  if (disk) out.diskSize = disk.size;
  if (l.files) {
    out.entries = l.files.files.length;
    out.fileBytes = l.files.files.reduce((n, f) => n + (f.type === 'file' && !f.linkTo ? f.size : 0), 0);
  }
  if (l.sbom) out.packages = sbomPackages(l.sbom).length;
  return out;
}

const octal = (mode: number): string => `0${mode.toString(8).padStart(3, '0')}`;
const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

function compareFiles(oldFiles: FileManifest, newFiles: FileManifest): NonNullable<ImageDiff['files']> {
  const before = new Map(oldFiles.files.map((f) => [f.path, f]));
  const after = new Map(newFiles.files.map((f) => [f.path, f]));
  const added: FileChange[] = [];
  const removed: FileChange[] = [];
  const changed: FileChange[] = [];
  let unchanged = 0;
  for (const [path, o] of before) {
    if (!after.has(path)) removed.push({ path, type: o.type, oldSize: o.size, sizeDelta: -o.size });
  }
  for (const [path, n] of after) {
    const o = before.get(path);
    if (!o) {
      added.push({ path, type: n.type, newSize: n.size, sizeDelta: n.size });
      continue;
    }
    const changes: FileChangeKind[] = [];
    const details: NonNullable<FileChange['details']> = {};
    if (o.type !== n.type) {
      changes.push('type');
      details.type = [o.type, n.type];
    }
    if (o.sha256 !== n.sha256) changes.push('content');
    if (o.size !== n.size) changes.push('size');
    if (o.mode !== n.mode) {
      changes.push('mode');
      details.mode = [octal(o.mode), octal(n.mode)];
    }
    if (o.uid !== n.uid || o.gid !== n.gid) {
      changes.push('owner');
      details.owner = [`${o.uid}:${o.gid}`, `${n.uid}:${n.gid}`];
    }
    if ((o.target ?? '') !== (n.target ?? '')) {
      changes.push('target');
      details.target = [o.target ?? '', n.target ?? ''];
    }
    if ((o.device ?? '') !== (n.device ?? '')) {
      changes.push('device');
      details.device = [o.device ?? '', n.device ?? ''];
    }
    if ((o.xattrs ?? []).join('\0') !== (n.xattrs ?? []).join('\0')) changes.push('xattrs');
    if ((o.linkTo ?? '') !== (n.linkTo ?? '')) {
      changes.push('link');
      details.link = [o.linkTo ?? '', n.linkTo ?? ''];
    }
    if (changes.length === 0) {
      unchanged++;
      continue;
    }
    const change: FileChange = {
      path,
      type: n.type,
      oldSize: o.size,
      newSize: n.size,
      sizeDelta: n.size - o.size,
      changes,
    };
    if (Object.keys(details).length > 0) change.details = details;
    changed.push(change);
  }
  const sort = (list: FileChange[]) => list.sort((a, b) => byBytes(a.path, b.path));
  return { added: sort(added), removed: sort(removed), changed: sort(changed), unchanged };
}

/** `pkg:deb/debian/libc6@2.36?arch=amd64&distro=debian-12` → key `deb/libc6/amd64`, kind `deb amd64`. */
function packageKey(p: { name: string; purl?: string }): { key: string; kind?: string } {
  const m = p.purl ? /^pkg:([^/]+)\/[^@]*@[^?#]*(?:\?([^#]*))?/.exec(p.purl) : null;
  if (!m) return { key: `?/${p.name}/` };
  const arch = new URLSearchParams(m[2] ?? '').get('arch') ?? '';
  return { key: `${m[1]}/${p.name}/${arch}`, kind: arch ? `${m[1]} ${arch}` : m[1] };
}

function comparePackages(
  oldDoc: Record<string, unknown>,
  newDoc: Record<string, unknown>,
): NonNullable<ImageDiff['packages']> {
  const index = (doc: Record<string, unknown>) => {
    const map = new Map<string, { name: string; version: string; kind?: string }>();
    for (const p of sbomPackages(doc)) {
      const { key, kind } = packageKey(p);
      map.set(key, { name: p.name, version: p.version, ...(kind ? { kind } : {}) });
    }
    return map;
  };
  const before = index(oldDoc);
  const after = index(newDoc);
  const added: PackageChange[] = [];
  const removed: PackageChange[] = [];
  const changed: PackageChange[] = [];
  let unchanged = 0;
  for (const [key, o] of before) {
    if (!after.has(key))
      removed.push({ name: o.name, ...(o.kind ? { kind: o.kind } : {}), oldVersion: o.version });
  }
  for (const [key, n] of after) {
    const o = before.get(key);
    const kind = n.kind ? { kind: n.kind } : {};
    if (!o) added.push({ name: n.name, ...kind, newVersion: n.version });
    else if (o.version !== n.version) {
      const change: PackageChange = { name: n.name, ...kind, oldVersion: o.version, newVersion: n.version };
      if (key.startsWith('deb/')) {
        const order = compareDebianVersions(o.version, n.version);
        if (order !== 0) change.direction = order < 0 ? 'upgrade' : 'downgrade';
      }
      changed.push(change);
    } else unchanged++;
  }
  const sort = (list: PackageChange[]) => list.sort((a, b) => byBytes(a.name, b.name));
  return { added: sort(added), removed: sort(removed), changed: sort(changed), unchanged };
}

function comparePartitions(before: PartitionRecord[] = [], after: PartitionRecord[] = []): PartitionChange[] {
  const numbers = [...new Set([...before, ...after].map((p) => p.number))].sort((a, b) => a - b);
  const out: PartitionChange[] = [];
  for (const number of numbers) {
    const o = before.find((p) => p.number === number);
    const n = after.find((p) => p.number === number);
    if (!o || !n) {
      const p = (o ?? n)!;
      out.push({
        number,
        label: p.label,
        ...(o ? { oldSize: o.size } : { newSize: n!.size }),
        sizeDelta: o ? -o.size : n!.size,
        changes: [o ? 'removed' : 'added'],
      });
      continue;
    }
    const changes: string[] = [];
    if (o.label !== n.label) changes.push('label');
    if (o.typeGuid !== n.typeGuid) changes.push('type');
    if (o.offset !== n.offset) changes.push('offset');
    if (o.size !== n.size) changes.push('size');
    if (o.uuid !== n.uuid) changes.push('uuid');
    if ((o.attributes ?? '0') !== (n.attributes ?? '0')) changes.push('attributes');
    if ((o.digest ?? '') !== (n.digest ?? '')) changes.push('content');
    out.push({
      number,
      label: n.label,
      oldSize: o.size,
      newSize: n.size,
      sizeDelta: n.size - o.size,
      changes,
    });
  }
  return out;
}

function compareArtifacts(before: Artifact[], after: Artifact[]): ArtifactChange[] {
  const names = [...new Set([...before, ...after].map((a) => a.name))].sort(byBytes);
  return names.map((name) => {
    const o = before.find((a) => a.name === name);
    const n = after.find((a) => a.name === name);
    if (!o) return { name, newSize: n!.size, sizeDelta: n!.size, status: 'added' as const };
    if (!n) return { name, oldSize: o.size, sizeDelta: -o.size, status: 'removed' as const };
    return {
      name,
      oldSize: o.size,
      newSize: n.size,
      sizeDelta: n.size - o.size,
      status: o.digest === n.digest ? ('unchanged' as const) : ('changed' as const),
    };
  });
}

/** Compare two built images: files, packages, partitions, sizes and root hashes. */
export async function diffImages(options: DiffImagesOptions, ctx: Context = {}): Promise<ImageDiff> {
  throwIfAborted(ctx);
  const a = await load(options.old);
  const b = await load(options.new);
  throwIfAborted(ctx);
  const notes: string[] = [];
  const files = a.files && b.files ? compareFiles(a.files, b.files) : undefined;
  if (!files) notes.push(`file changes not compared: ${a.files ? 'new' : 'old'} image has no files.json`);
  const packages = a.sbom && b.sbom ? comparePackages(a.sbom, b.sbom) : undefined;
  if (!packages) notes.push(`package changes not compared: ${a.sbom ? 'new' : 'old'} image has no SBOM`);
  const oldSide = side(a);
  const newSide = side(b);
  const diff: ImageDiff = {
    old: oldSide,
    new: newSide,
    rootHashChanged: oldSide.rootHash !== newSide.rootHash,
    ...(files ? { files } : {}),
    ...(packages ? { packages } : {}),
    partitions: comparePartitions(a.record.partitions, b.record.partitions),
    artifacts: compareArtifacts(a.record.artifacts, b.record.artifacts),
    totals: {
      filesAdded: files?.added.length ?? 0,
      filesRemoved: files?.removed.length ?? 0,
      filesChanged: files?.changed.length ?? 0,
      fileBytesDelta: (newSide.fileBytes ?? 0) - (oldSide.fileBytes ?? 0),
      packagesAdded: packages?.added.length ?? 0,
      packagesRemoved: packages?.removed.length ?? 0,
      packagesChanged: packages?.changed.length ?? 0,
      ...(oldSide.filesystem && newSide.filesystem
        ? { filesystemSizeDelta: newSide.filesystem.size - oldSide.filesystem.size }
        : {}),
      ...(oldSide.diskSize !== undefined && newSide.diskSize !== undefined
        ? { diskSizeDelta: newSide.diskSize - oldSide.diskSize }
        : {}),
    },
    notes,
  };
  return diff;
}

// ---- Rendering ----

/** Options for {@link renderImageDiff}. */
export interface RenderImageDiffOptions {
  /** `text` for a terminal, `markdown` for a pull-request comment. */
  format?: 'text' | 'markdown';
  /** At most this many file rows per list (default 50); the rest is counted. */
  maxFiles?: number;
}

/** Bytes for humans: `512 B`, `1.5 KiB`, `12.0 MiB`. */
export function formatBytes(n: number): string {
  const abs = Math.abs(n);
  const sign = n < 0 ? '-' : '';
  if (abs < 1024) return `${sign}${abs} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = abs / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${sign}${v.toFixed(1)} ${units[i]}`;
}

const signed = (n: number): string => (n > 0 ? `+${formatBytes(n)}` : n < 0 ? formatBytes(n) : '±0');
const short = (hash?: string): string => (hash ? `${hash.slice(0, 12)}…` : '–');

function fileDetail(f: FileChange): string {
  const parts: string[] = [];
  for (const c of f.changes ?? []) {
    const d = f.details?.[c as keyof NonNullable<FileChange['details']>];
    parts.push(d ? `${c} ${d[0] || '–'} → ${d[1] || '–'}` : c);
  }
  return parts.join(', ');
}

function sizeCell(f: FileChange, status: 'added' | 'removed' | 'changed'): string {
  if (status === 'added') return formatBytes(f.newSize ?? 0);
  if (status === 'removed') return formatBytes(f.oldSize ?? 0);
  if (f.oldSize === f.newSize) return formatBytes(f.newSize ?? 0);
  return `${formatBytes(f.oldSize ?? 0)} → ${formatBytes(f.newSize ?? 0)} (${signed(f.sizeDelta)})`;
}

const mdEscape = (s: string): string => s.replace(/\|/g, '\\|');

/** Render a diff as the report a reviewer reads: plain text for a terminal or a Markdown PR comment. */
export function renderImageDiff(diff: ImageDiff, options: RenderImageDiffOptions = {}): string {
  const md = options.format === 'markdown';
  const max = options.maxFiles ?? 50;
  const lines: string[] = [];
  const o = diff.old;
  const n = diff.new;
  const title = `${o.name} ${o.version} → ${n.name} ${n.version}`;
  const table = (head: string[], rows: string[][]) => {
    if (md) {
      lines.push(`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`);
      for (const r of rows) lines.push(`| ${r.map(mdEscape).join(' | ')} |`);
    } else {
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      const fmt = (r: string[]) =>
        `  ${r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}`;
      lines.push(fmt(head));
      for (const r of rows) lines.push(fmt(r));
    }
    lines.push('');
  };
  const code = (s: string) => (md ? `\`${s.replace(/`/g, "'")}\`` : s);
  const heading = (text: string) => lines.push(md ? `#### ${text}` : text, ...(md ? [''] : []));

  lines.push(md ? `### Image diff: ${title}` : `Image diff: ${title}`, '');
  const summary: string[][] = [
    [
      'root hash',
      code(short(o.rootHash)),
      code(short(n.rootHash)),
      diff.rootHashChanged ? 'changed' : 'same',
    ],
  ];
  if (o.filesystem || n.filesystem) {
    summary.push([
      'filesystem',
      o.filesystem ? `${o.filesystem.type} ${formatBytes(o.filesystem.size)}` : '–',
      n.filesystem ? `${n.filesystem.type} ${formatBytes(n.filesystem.size)}` : '–',
      diff.totals.filesystemSizeDelta !== undefined ? signed(diff.totals.filesystemSizeDelta) : '',
    ]);
  }
  if (o.diskSize !== undefined || n.diskSize !== undefined) {
    summary.push([
      'disk',
      o.diskSize !== undefined ? formatBytes(o.diskSize) : '–',
      n.diskSize !== undefined ? formatBytes(n.diskSize) : '–',
      diff.totals.diskSizeDelta !== undefined ? signed(diff.totals.diskSizeDelta) : '',
    ]);
  }
  if (diff.files) {
    summary.push([
      'files',
      `${o.entries} entries, ${formatBytes(o.fileBytes ?? 0)}`,
      `${n.entries} entries, ${formatBytes(n.fileBytes ?? 0)}`,
      `+${diff.totals.filesAdded} −${diff.totals.filesRemoved} ~${diff.totals.filesChanged}, ${signed(diff.totals.fileBytesDelta)}`,
    ]);
  }
  if (diff.packages) {
    summary.push([
      'packages',
      String(o.packages ?? 0),
      String(n.packages ?? 0),
      `+${diff.totals.packagesAdded} −${diff.totals.packagesRemoved} ~${diff.totals.packagesChanged}`,
    ]);
  }
  table(['', 'old', 'new', 'change'], summary);

  if (diff.packages) {
    const p = diff.packages;
    const rows = [
      ...p.changed.map((c) => [
        c.name,
        c.kind ?? '',
        c.oldVersion!,
        `${c.newVersion!}${c.direction === 'downgrade' ? ' (downgrade)' : ''}`,
      ]),
      ...p.added.map((c) => [c.name, c.kind ?? '', '–', c.newVersion!]),
      ...p.removed.map((c) => [c.name, c.kind ?? '', c.oldVersion!, '–']),
    ];
    if (rows.length > 0) {
      heading(`Packages (${rows.length} changed, ${p.unchanged} unchanged)`);
      table(['package', 'kind', 'old', 'new'], rows);
    }
  }

  if (diff.files) {
    const f = diff.files;
    const all: [string, FileChange][] = [
      ...f.added.map((c) => ['added', c] as [string, FileChange]),
      ...f.removed.map((c) => ['removed', c] as [string, FileChange]),
      ...f.changed.map((c) => ['changed', c] as [string, FileChange]),
    ];
    if (all.length > 0) {
      heading(
        `Files (${f.added.length} added, ${f.removed.length} removed, ${f.changed.length} changed, ${f.unchanged} unchanged)`,
      );
      const rows = all
        .slice(0, max)
        .map(([status, c]) => [
          status,
          code(c.path),
          c.type === 'file' ? sizeCell(c, status as 'added') : '',
          status === 'changed' ? fileDetail(c) : c.type === 'file' ? '' : c.type,
        ]);
      table(['', 'path', 'size', 'details'], rows);
      if (all.length > max) lines.push(`… and ${all.length - max} more (see --json for the full list)`, '');
    }
  }

  const parts = diff.partitions.filter((p) => p.changes.length > 0);
  if (parts.length > 0) {
    heading('Partitions');
    table(
      ['#', 'label', 'old size', 'new size', 'change'],
      parts.map((p) => [
        String(p.number),
        p.label,
        p.oldSize !== undefined ? formatBytes(p.oldSize) : '–',
        p.newSize !== undefined ? formatBytes(p.newSize) : '–',
        `${p.changes.join(', ')}${p.sizeDelta ? ` (${signed(p.sizeDelta)})` : ''}`,
      ]),
    );
  }

  const arts = diff.artifacts.filter((a) => a.status !== 'unchanged');
  if (arts.length > 0) {
    heading('Artifacts');
    table(
      ['artifact', 'old size', 'new size', 'change'],
      arts.map((a) => [
        a.name,
        a.oldSize !== undefined ? formatBytes(a.oldSize) : '–',
        a.newSize !== undefined ? formatBytes(a.newSize) : '–',
        `${a.status}${a.sizeDelta ? ` (${signed(a.sizeDelta)})` : ''}`,
      ]),
    );
  }
  if (md && diff.rootHashChanged) {
    lines.push(`Root hash: \`${o.rootHash ?? '–'}\` → \`${n.rootHash ?? '–'}\``, '');
  } else if (!md && diff.rootHashChanged) {
    lines.push(`Root hash: ${o.rootHash ?? '–'} → ${n.rootHash ?? '–'}`, '');
  }
  for (const note of diff.notes) lines.push(md ? `> ${note}` : `note: ${note}`);
  return `${lines.join('\n').trimEnd()}\n`;
}

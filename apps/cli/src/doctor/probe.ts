import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** An optional external tool drover can use, and what it enables. */
export interface ToolSpec {
  id: string;
  command: string;
  versionArgs: string[];
  /** Debian package that provides it. */
  package: string;
  enables: string;
}

export interface ToolReport {
  id: string;
  command: string;
  found: boolean;
  path?: string;
  version?: string;
  package: string;
  enables: string;
}

export interface DoctorReport {
  node: { version: string; required: string; ok: boolean };
  platform: { os: string; arch: string };
  tools: ToolReport[];
  /** True when Node satisfies the requirement; missing optional tools never make this false. */
  ok: boolean;
}

export const REQUIRED_NODE = '>=20.19';

export const OPTIONAL_TOOLS: readonly ToolSpec[] = [
  {
    id: 'veritysetup',
    command: 'veritysetup',
    versionArgs: ['--version'],
    package: 'cryptsetup-bin',
    enables:
      'cross-checking drover verity against the reference implementation (drover computes verity itself)',
  },
  {
    id: 'mkfs.erofs',
    command: 'mkfs.erofs',
    versionArgs: ['--version'],
    package: 'erofs-utils',
    enables: 'fsck.erofs checks of built images and the EROFS benchmark (drover writes EROFS itself)',
  },
  {
    id: 'mksquashfs',
    command: 'mksquashfs',
    versionArgs: ['-version'],
    package: 'squashfs-tools',
    enables: 'filesystem.type: squashfs',
  },
  {
    id: 'mke2fs',
    command: 'mke2fs',
    versionArgs: ['-V'],
    package: 'e2fsprogs',
    enables: 'filesystem.type: ext4',
  },
  {
    id: 'sgdisk',
    command: 'sgdisk',
    versionArgs: ['--version'],
    package: 'gdisk',
    enables: 'independent checks of the GPT disks drover writes',
  },
  {
    id: 'skopeo',
    command: 'skopeo',
    versionArgs: ['--version'],
    package: 'skopeo',
    enables: 'copying images between registries and layouts outside drover',
  },
  {
    id: 'qemu-system-x86_64',
    command: 'qemu-system-x86_64',
    versionArgs: ['--version'],
    package: 'qemu-system-x86',
    enables: 'booting built x86_64 disk images in a VM',
  },
];

/** Find an executable on PATH (plus the sbin directories, where Debian puts veritysetup and sgdisk). */
export async function findExecutable(
  command: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const extra of ['/usr/local/sbin', '/usr/sbin', '/sbin']) if (!dirs.includes(extra)) dirs.push(extra);
  for (const dir of dirs) {
    const candidate = join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Run `path args` and return the first version-looking token of its output. */
export function readVersion(path: string, args: string[], timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(path, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (_error, stdout, stderr) => {
      // Some tools (mke2fs -V) print to stderr and exit non-zero; the version is still there.
      resolve(parseVersion(`${stdout}\n${stderr}`));
    });
  });
}

/** The first dotted version number in a tool's `--version` output. */
export function parseVersion(output: string): string | undefined {
  return output.match(/\b(\d+\.\d+(?:\.\d+)*(?:[-~+][0-9A-Za-z.]+)?)\b/)?.[1];
}

/** Is `version` (v20.20.2) at least `minimum` (20.19)? */
export function satisfiesMinimum(version: string, minimum: string): boolean {
  const parse = (v: string) =>
    v
      .replace(/^[^\d]*/, '')
      .split('.')
      .map((n) => Number.parseInt(n, 10) || 0);
  const a = parse(version);
  const b = parse(minimum);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/** Check Node and every optional tool, in parallel. */
export async function runDoctor(
  options: { tools?: readonly ToolSpec[]; env?: NodeJS.ProcessEnv } = {},
): Promise<DoctorReport> {
  const tools = options.tools ?? OPTIONAL_TOOLS;
  const reports = await Promise.all(
    tools.map(async (tool): Promise<ToolReport> => {
      const path = await findExecutable(tool.command, options.env);
      const report: ToolReport = {
        id: tool.id,
        command: tool.command,
        found: path !== undefined,
        package: tool.package,
        enables: tool.enables,
      };
      if (path) {
        report.path = path;
        const version = await readVersion(path, tool.versionArgs);
        if (version) report.version = version;
      }
      return report;
    }),
  );
  const required = REQUIRED_NODE.replace('>=', '');
  const nodeOk = satisfiesMinimum(process.version, required);
  return {
    node: { version: process.version, required: REQUIRED_NODE, ok: nodeOk },
    platform: { os: process.platform, arch: process.arch },
    tools: reports,
    ok: nodeOk,
  };
}

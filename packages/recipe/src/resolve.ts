import { createHash } from 'node:crypto';
import { dirname, resolve as resolvePath } from 'node:path';
import { child, type YNode } from './node.js';
import { AB_DEFAULTS, DPS_DEFAULTS, PARTITIONS_BY_LAYOUT, type RecipeOutput } from './schema.js';
import { mergeSettings, renderSettings, type SettingsValue } from './settings.js';
import type {
  Platform,
  ResolvedBase,
  ResolvedDisk,
  ResolvedLayer,
  ResolvedOutput,
  ResolvedRecipe,
  ResolvedVerity,
} from './types.js';
import type { Owner } from './units.js';

const ROOT: Owner = { user: 0, group: 0 };
const DISK_ARCH: Record<string, 'x86_64' | 'aarch64'> = { amd64: 'x86_64', arm64: 'aarch64' };
const OCI_ARCH: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64' };

export interface ResolveInput {
  parsed: RecipeOutput;
  tree: YNode;
  file: string;
  files: string[];
  id: string;
  axes: Record<string, string>;
  variables: Record<string, string>;
  /** SOURCE_DATE_EPOCH from the environment, already validated. */
  envSourceDateEpoch?: number;
}

/** The directory a relative path in the recipe is resolved from: the folder of the file that wrote it. */
export function baseDirOf(tree: YNode, path: (string | number)[], fallbackFile: string): string {
  let node: YNode | undefined = tree;
  for (const s of path) node = child(node, s);
  const file = node?.pos.file;
  return dirname(file?.startsWith('/') ? file : fallbackFile);
}

/** Apply defaults and normalize a validated recipe into what the builder consumes. */
export function resolveRecipe(input: ResolveInput): ResolvedRecipe {
  const { parsed: p, tree, file } = input;
  const diskArchGiven = p.disk?.architecture;
  const platform: Platform = p.base.platform ?? {
    os: 'linux',
    architecture: diskArchGiven ? OCI_ARCH[diskArchGiven]! : 'amd64',
  };
  const local = (key: 'layout' | 'directory' | 'tar', location: string) =>
    resolvePath(baseDirOf(tree, ['base', key], file), location);
  let base: ResolvedBase;
  if (p.base.registry !== undefined) base = { type: 'registry', ref: p.base.registry, platform };
  else if (p.base.layout !== undefined) {
    base = {
      type: 'layout',
      location: p.base.layout,
      path: local('layout', p.base.layout),
      platform,
      ...(p.base.ref ? { ref: p.base.ref } : {}),
    };
  } else if (p.base.directory !== undefined) {
    base = {
      type: 'directory',
      location: p.base.directory,
      path: local('directory', p.base.directory),
      platform,
    };
  } else {
    base = { type: 'tar', location: p.base.tar!, path: local('tar', p.base.tar!), platform };
  }

  const layers: ResolvedLayer[] = [];
  const settingsSoFar = new Map<string, Record<string, SettingsValue>>();
  (p.layers ?? []).forEach((layer, i) => {
    const src = (action: string, key: string, from: string) => ({
      from,
      source: resolvePath(baseDirOf(tree, ['layers', i, action, key], file), from),
    });
    if (layer.copy) {
      const c = layer.copy;
      layers.push({
        type: 'copy',
        ...src('copy', 'from', c.from),
        to: c.to,
        owner: c.owner ?? ROOT,
        ...(c.mode === undefined ? {} : { mode: c.mode }),
        dirMode: c.dirMode ?? 0o755,
        exclude: c.exclude ?? [],
      });
    } else if (layer.file) {
      const f = layer.file;
      if (f.template !== undefined) {
        layers.push({
          type: 'template',
          path: f.path,
          ...src('file', 'template', f.template),
          owner: f.owner ?? ROOT,
          mode: f.mode ?? 0o644,
        });
      } else {
        layers.push({
          type: 'file',
          path: f.path,
          content: f.content ?? '',
          owner: f.owner ?? ROOT,
          mode: f.mode ?? 0o644,
        });
      }
    } else if (layer.symlink) {
      layers.push({
        type: 'symlink',
        path: layer.symlink.path,
        target: layer.symlink.target,
        owner: layer.symlink.owner ?? ROOT,
      });
    } else if (layer.directory) {
      layers.push({
        type: 'directory',
        path: layer.directory.path,
        owner: layer.directory.owner ?? ROOT,
        mode: layer.directory.mode ?? 0o755,
      });
    } else if (layer.remove !== undefined) {
      layers.push({
        type: 'remove',
        paths: typeof layer.remove === 'string' ? [layer.remove] : layer.remove,
      });
    } else if (layer.settings) {
      const s = layer.settings;
      const format = s.format ?? (s.path.endsWith('.json') ? 'json' : 'toml');
      const values = mergeSettings(
        settingsSoFar.get(s.path) ?? {},
        s.values as Record<string, SettingsValue>,
      );
      settingsSoFar.set(s.path, values);
      layers.push({
        type: 'settings',
        path: s.path,
        format,
        values,
        content: renderSettings({ format, values }),
        owner: s.owner ?? ROOT,
        mode: s.mode ?? 0o644,
      });
    }
  });

  const fs = p.filesystem;
  const sourceDateEpoch = fs?.sourceDateEpoch ?? input.envSourceDateEpoch;
  const filesystem: ResolvedRecipe['filesystem'] = {
    type: fs?.type ?? 'erofs',
    ...(sourceDateEpoch === undefined ? {} : { sourceDateEpoch }),
    compression: fs?.compression ?? 'none',
    ...(fs?.compressionLevel === undefined ? {} : { compressionLevel: fs.compressionLevel }),
    blockSize: fs?.blockSize ?? 4096,
    ...(fs?.label === undefined ? {} : { label: fs.label }),
    ...(fs?.uuid === undefined ? {} : { uuid: fs.uuid }),
    ...(fs?.size === undefined ? {} : { size: fs.size }),
    extraArgs: fs?.extraArgs ?? [],
  };

  const v = p.verity;
  const verity: ResolvedVerity = {
    enabled: v?.enabled ?? true,
    algorithm: v?.algorithm ?? 'sha256',
    hashType: v?.hashType ?? 1,
    dataBlockSize: v?.dataBlockSize ?? 4096,
    hashBlockSize: v?.hashBlockSize ?? 4096,
    salt: v?.salt ?? deriveSalt(p.metadata.name, p.metadata.version, input.id),
    saltSource: v?.salt === undefined ? 'derived' : 'recipe',
    ...(v?.fecRoots === undefined ? {} : { fecRoots: v.fecRoots }),
    ...(v?.signingKey === undefined ? {} : { signingKey: v.signingKey }),
    options: v?.options ?? [],
  };

  const d = p.disk;
  const layout = d?.layout ?? 'none';
  const partitions: ResolvedDisk['partitions'] = {};
  if (layout !== 'none') {
    const defaults = layout === 'ab' ? AB_DEFAULTS : DPS_DEFAULTS;
    for (const name of PARTITIONS_BY_LAYOUT[layout]) {
      if (name === 'hash' && !verity.enabled) continue;
      if (name === 'signature' && verity.signingKey === undefined) continue;
      const size = d?.partitions?.[name] ?? defaults[name];
      if (size !== undefined) partitions[name] = size;
    }
  }
  const data =
    layout === 'none'
      ? undefined
      : (d?.data ??
        (layout === 'ab'
          ? { size: 'rest' as const, filesystem: 'ext4' as const, label: 'DATA' }
          : undefined));
  const disk: ResolvedDisk = {
    layout,
    ...(d?.size === undefined || layout === 'none' ? {} : { size: d.size }),
    architecture: d?.architecture ?? DISK_ARCH[platform.architecture] ?? 'x86_64',
    partitions,
    ...(data === undefined ? {} : { data }),
  };

  const outputs: ResolvedOutput[] = (p.outputs ?? [layout === 'none' ? 'filesystem' : 'disk']).map((o) =>
    typeof o === 'string' ? { type: o } : { ...o },
  );

  return {
    apiVersion: 'drover.dev/v1',
    kind: 'Recipe',
    id: input.id,
    variant: input.axes,
    file,
    files: input.files,
    metadata: {
      name: p.metadata.name,
      version: p.metadata.version,
      ...(p.metadata.description === undefined ? {} : { description: p.metadata.description }),
      labels: p.metadata.labels ?? {},
    },
    variables: input.variables,
    base,
    layers,
    filesystem,
    verity,
    disk,
    outputs,
    boot: { kernelArgs: p.boot?.kernelArgs ?? [] },
  };
}

/** A salt that depends only on the image's identity, so rebuilds of the same version are reproducible. */
export function deriveSalt(name: string, version: string, id: string): string {
  return createHash('sha256').update(`drover-verity-salt/v1\0${name}\0${version}\0${id}`).digest('hex');
}

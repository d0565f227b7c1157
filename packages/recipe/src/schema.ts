import * as z from 'zod';
import {
  checkImagePath,
  checkSourcePath,
  MODE_PATTERN,
  OWNER_PATTERN,
  type Parsed,
  parseModeValue,
  parseOwnerValue,
  parseSizeValue,
  SIZE_PATTERN,
} from './units.js';

// The recipe format, defined once. The validator runs these zod schemas and `drover recipe schema` /
// schema/recipe.schema.json are generated from the very same objects with z.toJSONSchema, so editor completion
// and validation cannot drift apart. Rules JSON Schema cannot express (partitions fit the disk, FEC needs equal
// block sizes, exactly one action per layer) are refinements here and documented in docs/recipe.md.

export const API_VERSION = 'drover.dev/v1';
export const KIND = 'Recipe';

/** Separates a message from its hint inside zod error strings (split again when problems are reported). */
export const HINT_SEPARATOR = '\u001f';
const msg = (message: string, hint: string): string => `${message}${HINT_SEPARATOR}${hint}`;

type Ctx = z.core.$RefinementCtx<unknown>;
const always = { when: () => true };

function fromParsed<T>(r: Parsed<T>, ctx: { addIssue: (issue: z.core.$ZodRawIssue) => void }): T {
  if (r.ok) return r.value;
  ctx.addIssue({ code: 'custom', message: r.message, params: { hint: r.hint }, input: undefined });
  return z.NEVER;
}

// ---------------------------------------------------------------------------------------------------------
// Little languages

/**
 * An integer. Not `z.number().int()`: its issue aborts parsing of every enclosing object, which would skip the
 * cross-field rules and hide problems; a refinement reports the same thing without stopping the others.
 */
const integer = (min?: number, max?: number) => {
  let n = z.number();
  if (min !== undefined) n = n.min(min);
  if (max !== undefined) n = n.max(max);
  // meta last: it belongs to this instance, and every further method returns a new one.
  return n
    .refine(Number.isInteger, { error: msg('expected a whole number', 'Leave out the fraction.') })
    .meta({ type: 'integer' });
};

export const Size = z
  .union([integer(0), z.string().meta({ pattern: SIZE_PATTERN })], {
    error: msg('expected a size', 'Write a byte count or a number with a unit: 512MiB, 2GiB.'),
  })
  .transform((v, ctx) => fromParsed(parseSizeValue(v), ctx))
  .meta({
    description: 'A size in bytes, or a number with a unit: 512MiB, 2GiB (binary), 2GB (decimal).',
    examples: ['2GiB', '512MiB'],
  });

export const Mode = z
  .string({ error: msg('expected a file mode', 'Write it in quotes, e.g. "0644", or symbolic: u=rw,go=r.') })
  .meta({ pattern: MODE_PATTERN })
  .transform((v, ctx) => fromParsed(parseModeValue(v), ctx))
  .meta({
    description: 'File mode: octal ("0644", 0755) or symbolic (u=rw,go=r).',
    examples: ['0644', 'u=rwx,go=rx'],
  });

export const Owner = z
  .string({ error: msg('expected an owner', 'Write user:group, e.g. root:root or 0:0.') })
  .meta({ pattern: OWNER_PATTERN })
  .transform((v, ctx) => fromParsed(parseOwnerValue(v), ctx))
  .meta({
    description: 'Owner as user:group, names or numeric ids; names are looked up in the image.',
    examples: ['root:root', '1000:1000'],
  });

const imagePath = (allowRoot: boolean) =>
  z
    .string({ error: msg('expected a path inside the image', 'Write an absolute path, e.g. /etc/motd.') })
    .meta({ pattern: '^/' })
    .transform((v, ctx) => fromParsed(checkImagePath(v, allowRoot), ctx))
    .meta({ description: 'Absolute, normalized path inside the image.' });

export const ImagePath = imagePath(false);
export const ImageDir = imagePath(true);

export const SourcePath = z
  .string({
    error: msg('expected a source path', 'Write a path relative to the recipe file, e.g. files/motd.'),
  })
  .transform((v, ctx) => fromParsed(checkSourcePath(v), ctx))
  .meta({ description: "Path relative to the recipe file's folder; may not escape it." });

const Name = (what: string) =>
  z.string().regex(/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/, {
    error: msg(
      `${what} must be lowercase letters, digits, ".", "_" or "-" (max 63)`,
      'For example: edge-node',
    ),
  });

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// ---------------------------------------------------------------------------------------------------------
// Sections

export const Metadata = z
  .strictObject({
    name: Name('metadata.name').meta({
      description: 'Image name; part of artifact names and the image record.',
    }),
    version: z
      .string({
        error: msg(
          'expected a version',
          'Use semantic versioning, e.g. 1.4.0; quote it if YAML reads it as a number.',
        ),
      })
      .regex(SEMVER, { error: msg('version must be a semantic version', 'For example 1.4.0 or 2.0.0-rc.1.') })
      .meta({ description: 'Semantic version of the image.', examples: ['1.0.0'] }),
    description: z.string().optional(),
    labels: z
      .record(
        z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9._/-]{0,126}[A-Za-z0-9])?$/, {
          error: msg(
            'label keys are letters, digits, ".", "_", "/" or "-"',
            'For example: team or example.com/owner',
          ),
        }),
        z.string(),
      )
      .optional()
      .meta({ description: 'Free-form string labels copied into the image record.' }),
  })
  .meta({ description: 'What the image is called.' });

export const OCI_ARCHITECTURES = ['amd64', 'arm64', 'arm', '386', 'ppc64le', 's390x', 'riscv64'] as const;
const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', 'x86-64': 'amd64' };

export const Platform = z
  .union(
    [
      z.string().meta({
        pattern: '^[a-z0-9]+/[a-z0-9_-]+(/[a-z0-9]+)?$',
        examples: ['linux/amd64', 'linux/arm64/v8'],
      }),
      z.strictObject({
        os: z.string().default('linux'),
        architecture: z.string(),
        variant: z.string().optional(),
      }),
    ],
    { error: msg('expected a platform', 'Write os/architecture[/variant], e.g. linux/arm64.') },
  )
  .transform((v, ctx) => {
    const parts =
      typeof v === 'string'
        ? v.split('/')
        : [v.os, v.architecture, ...(v.variant === undefined ? [] : [v.variant])];
    if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
      ctx.addIssue({
        code: 'custom',
        message: `not a platform: ${JSON.stringify(v)}`,
        params: { hint: 'Write os/architecture[/variant], e.g. linux/arm64.' },
        input: v,
      });
      return z.NEVER;
    }
    const architecture = ARCH_ALIASES[parts[1]!] ?? parts[1]!;
    if (!(OCI_ARCHITECTURES as readonly string[]).includes(architecture)) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown architecture ${JSON.stringify(parts[1])}`,
        params: { hint: `Use one of ${OCI_ARCHITECTURES.join(', ')} (x86_64 and aarch64 are accepted too).` },
        input: v,
      });
      return z.NEVER;
    }
    return { os: parts[0]!, architecture, ...(parts[2] === undefined ? {} : { variant: parts[2] }) };
  })
  .meta({ description: 'Platform to take from a multi-arch image: os/architecture[/variant].' });

const REGISTRY_REF =
  /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[0-9a-f]{64})?$/;

const BASE_SOURCES = ['registry', 'layout', 'directory', 'tar'] as const;

export const Base = z
  .strictObject({
    registry: z
      .string()
      .regex(REGISTRY_REF, {
        error: msg(
          'not an image reference',
          'Write registry/repository:tag or registry/repository@sha256:<digest>.',
        ),
      })
      .optional()
      .meta({
        description: 'Image in a registry: registry/repo:tag or registry/repo@sha256:…',
        examples: ['ghcr.io/acme/os-base:1.2'],
      }),
    layout: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Path to an OCI image layout directory, relative to this file.' }),
    directory: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Path to a root filesystem directory, relative to this file.' }),
    tar: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Path to a tar archive of a root filesystem, relative to this file.' }),
    ref: z.string().min(1).optional().meta({
      description:
        'For a layout: the image to use, by its org.opencontainers.image.ref.name annotation or a sha256 digest.',
    }),
    platform: Platform.optional(),
  })
  .superRefine((v, ctx) => {
    if (!isObject(v)) return;
    const given = BASE_SOURCES.filter((k) => v[k] !== undefined);
    if (given.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message: msg(
          'base needs one of registry, layout, directory or tar',
          'For example `layout: ../base` or `registry: ghcr.io/acme/os-base:1.2`.',
        ),
        input: v,
      });
    } else if (given.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [given[1]!],
        message: msg(
          `base has both ${given[0]} and ${given[1]}`,
          'Pick exactly one source for the root filesystem.',
        ),
        input: v,
      });
    }
    if (v.ref !== undefined && v.layout === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['ref'],
        message: msg(
          'ref only applies to a layout base',
          'For a registry, put the tag or digest into the reference itself.',
        ),
        input: v,
      });
    }
  }, always)
  .meta({
    description: 'Where the root filesystem comes from: exactly one of registry, layout, directory, tar.',
  });

// Layers ----------------------------------------------------------------------------------------------------

const CopyLayer = z
  .strictObject({
    from: SourcePath,
    to: ImageDir,
    owner: Owner.optional(),
    mode: Mode.optional().meta({
      description: 'Mode for copied files (default: keep the source file mode).',
    }),
    dirMode: Mode.optional().meta({ description: 'Mode for copied directories (default 0755).' }),
    exclude: z
      .array(z.string().min(1))
      .optional()
      .meta({ description: 'Glob patterns (relative to `from`) to leave out.' }),
  })
  .meta({ description: "Copy a file or directory from the recipe's folder into the image." });

const FileLayer = z
  .strictObject({
    path: ImagePath,
    content: z.string().optional().meta({ description: 'Inline content; ${variables} are interpolated.' }),
    template: SourcePath.optional().meta({
      description: 'A template file next to the recipe, rendered with the recipe variables.',
    }),
    owner: Owner.optional(),
    mode: Mode.optional(),
  })
  .superRefine((v, ctx) => {
    if (!isObject(v)) return;
    const n = (v.content !== undefined ? 1 : 0) + (v.template !== undefined ? 1 : 0);
    if (n !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: msg(
          n === 0 ? 'file needs content or template' : 'file has both content and template',
          'Give exactly one of `content` (inline) or `template` (a file next to the recipe).',
        ),
        input: v,
      });
    }
  }, always)
  .meta({ description: 'Write a file with inline content or a rendered template.' });

const SymlinkLayer = z
  .strictObject({
    path: ImagePath,
    target: z.string().min(1).meta({ description: 'Link target, stored as written (absolute or relative).' }),
    owner: Owner.optional(),
  })
  .meta({ description: 'Create a symbolic link.' });

const DirectoryLayer = z
  .strictObject({ path: ImagePath, owner: Owner.optional(), mode: Mode.optional() })
  .meta({ description: 'Create a directory (and its parents).' });

const RemoveLayer = z
  .union([ImagePath, z.array(ImagePath).min(1)], {
    error: msg(
      'expected a path or a list of paths',
      'For example `remove: [/usr/share/doc, /usr/share/man]`.',
    ),
  })
  .meta({ description: 'Remove paths (recursively) from the image.' });

export const SETTINGS_FORMATS = ['toml', 'json'] as const;

const SettingsLayer = z
  .strictObject({
    path: ImagePath,
    format: z
      .enum(SETTINGS_FORMATS)
      .optional()
      .meta({ description: 'toml or json; defaults from the file extension.' }),
    values: z.record(z.string(), z.json().meta({ id: 'settingsValue' })).meta({
      description:
        'Typed settings, rendered in order; later layers for the same path merge into earlier ones.',
    }),
    owner: Owner.optional(),
    mode: Mode.optional(),
  })
  .superRefine((v, ctx) => {
    if (!isObject(v) || v.format !== undefined || typeof v.path !== 'string') return;
    if (!/\.(toml|json)$/.test(v.path)) {
      ctx.addIssue({
        code: 'custom',
        path: ['format'],
        message: msg(
          'cannot tell the settings format from the path',
          'Set `format: toml` or `format: json`, or name the file *.toml / *.json.',
        ),
        input: v,
      });
    }
  }, always)
  .meta({
    description: 'Render settings (like Bottlerocket [settings.*]) to a TOML or JSON file in the image.',
  });

export const LAYER_ACTIONS = ['copy', 'file', 'symlink', 'directory', 'remove', 'settings'] as const;

export const Layer = z
  .strictObject({
    copy: CopyLayer.optional(),
    file: FileLayer.optional(),
    symlink: SymlinkLayer.optional(),
    directory: DirectoryLayer.optional(),
    remove: RemoveLayer.optional(),
    settings: SettingsLayer.optional(),
  })
  .superRefine((v, ctx) => {
    if (!isObject(v)) return;
    const given = LAYER_ACTIONS.filter((k) => v[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: msg(
          given.length === 0
            ? 'a layer needs one action'
            : `a layer has one action, found ${given.join(' and ')}`,
          `Use one of ${LAYER_ACTIONS.join(', ')} per list item; add another item for the next action.`,
        ),
        input: v,
      });
    }
  }, always)
  .meta({
    description: 'One change applied on top of the base, in order: exactly one action key.',
    minProperties: 1,
    maxProperties: 1,
  });

// Filesystem, verity, disk ------------------------------------------------------------------------------------

export const FILESYSTEM_TYPES = ['erofs', 'squashfs', 'ext4'] as const;
export const COMPRESSIONS = ['none', 'lz4', 'lz4hc', 'lzma', 'deflate', 'zstd', 'gzip', 'xz', 'lzo'] as const;
const COMPRESSION_BY_FS: Record<(typeof FILESYSTEM_TYPES)[number], readonly string[]> = {
  erofs: ['none', 'lz4', 'lz4hc', 'lzma', 'deflate', 'zstd'],
  squashfs: ['none', 'gzip', 'lzo', 'lz4', 'xz', 'zstd'],
  ext4: ['none'],
};

export const Filesystem = z
  .strictObject({
    type: z.enum(FILESYSTEM_TYPES).default('erofs').meta({ description: 'Filesystem of the root image.' }),
    sourceDateEpoch: integer(0).optional().meta({
      description:
        'Timestamp (seconds since 1970) for every file; defaults to SOURCE_DATE_EPOCH, else the lockfile.',
    }),
    compression: z
      .enum(COMPRESSIONS)
      .optional()
      .meta({ description: 'Compression; which ones apply depends on the type.' }),
    compressionLevel: integer().optional(),
    blockSize: Size.optional().meta({ description: 'Filesystem block size (default 4096).' }),
    label: z.string().max(16).optional().meta({ description: 'Volume label (at most 16 characters).' }),
    uuid: z.uuid().optional().meta({ description: 'Filesystem UUID; derived from the recipe when omitted.' }),
    size: Size.optional().meta({ description: 'Image size for ext4 (others are sized to fit).' }),
    extraArgs: z
      .array(z.string())
      .optional()
      .meta({ description: 'Extra arguments for mksquashfs / mke2fs.' }),
  })
  .superRefine((v, ctx) => {
    if (!isObject(v)) return;
    const type = (typeof v.type === 'string' ? v.type : 'erofs') as (typeof FILESYSTEM_TYPES)[number];
    const allowed = COMPRESSION_BY_FS[type];
    if (allowed && typeof v.compression === 'string' && !allowed.includes(v.compression)) {
      ctx.addIssue({
        code: 'custom',
        path: ['compression'],
        message: msg(
          `${type} does not support ${v.compression} compression`,
          `Use one of ${allowed.join(', ')}.`,
        ),
        input: v,
      });
    }
    if (type === 'erofs' && v.extraArgs !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['extraArgs'],
        message: msg(
          'extraArgs only apply to squashfs and ext4',
          'drover writes EROFS itself; use compression/blockSize/label instead.',
        ),
        input: v,
      });
    }
    if (type !== 'ext4' && v.size !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['size'],
        message: msg(`size only applies to ext4`, `${type} images are sized to fit their content.`),
        input: v,
      });
    }
    if (typeof v.blockSize === 'number' && !isPowerOfTwo(v.blockSize, 512, 65536)) {
      ctx.addIssue({
        code: 'custom',
        path: ['blockSize'],
        message: msg('blockSize must be a power of two from 512 to 64KiB', 'The usual value is 4096.'),
        input: v,
      });
    }
  }, always)
  .meta({ description: 'The root filesystem image.' });

export const HASH_ALGORITHMS = ['sha256', 'sha512', 'sha1'] as const;
export const VERITY_OPTIONS = [
  'ignore_corruption',
  'restart_on_corruption',
  'panic_on_corruption',
  'restart_on_error',
  'panic_on_error',
  'ignore_zero_blocks',
  'check_at_most_once',
] as const;

export const Verity = z
  .strictObject({
    enabled: z.boolean().default(true),
    algorithm: z.enum(HASH_ALGORITHMS).default('sha256'),
    hashType: z
      .union([z.literal(0), z.literal(1)])
      .default(1)
      .meta({ description: '1 = normal (default), 0 = Chrome OS.' }),
    dataBlockSize: Size.default(4096),
    hashBlockSize: Size.default(4096),
    salt: z
      .string()
      .regex(/^(-|([0-9a-f]{2}){1,256})$/, {
        error: msg(
          'salt must be lowercase hex (at most 256 bytes) or "-"',
          'Omit it to derive a salt from the recipe.',
        ),
      })
      .optional()
      .meta({
        description: 'Hex salt, "-" for none; derived deterministically from the recipe when omitted.',
      }),
    fecRoots: integer(2, 24)
      .optional()
      .meta({ description: 'Reed-Solomon parity bytes per codeword (2..24) for forward error correction.' }),
    signingKey: z
      .string()
      .min(1)
      .optional()
      .meta({
        description: 'Key that signs the root hash: a file path, env:NAME or a KMS URI.',
        examples: ['keys/verity.pem', 'awskms:///alias/verity'],
      }),
    options: z.array(z.enum(VERITY_OPTIONS)).optional().meta({ description: 'dm-verity table options.' }),
  })
  .superRefine((v, ctx) => {
    if (!isObject(v)) return;
    for (const k of ['dataBlockSize', 'hashBlockSize'] as const) {
      if (typeof v[k] === 'number' && !isPowerOfTwo(v[k] as number, 512, 512 * 1024)) {
        ctx.addIssue({
          code: 'custom',
          path: [k],
          message: msg(`${k} must be a power of two from 512 to 512KiB`, 'The usual value is 4096.'),
          input: v,
        });
      }
    }
    if (
      v.fecRoots !== undefined &&
      typeof v.dataBlockSize === 'number' &&
      typeof v.hashBlockSize === 'number' &&
      v.dataBlockSize !== v.hashBlockSize
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['fecRoots'],
        message: msg(
          `FEC needs equal block sizes, but dataBlockSize is ${v.dataBlockSize} and hashBlockSize ${v.hashBlockSize}`,
          'Set both block sizes to the same value (4096) or drop fecRoots.',
        ),
        input: v,
      });
    }
    if (Array.isArray(v.options)) {
      const modes = v.options.filter(
        (o) => (typeof o === 'string' && o.endsWith('_on_corruption')) || o === 'ignore_corruption',
      );
      if (modes.length > 1)
        ctx.addIssue({
          code: 'custom',
          path: ['options'],
          message: msg(
            `conflicting corruption handling: ${modes.join(', ')}`,
            'Pick one of ignore_corruption, restart_on_corruption, panic_on_corruption.',
          ),
          input: v,
        });
    }
  }, always)
  .meta({ description: 'dm-verity protection of the root filesystem.' });

export const DISK_LAYOUTS = ['ab', 'dps', 'none'] as const;
export const DISK_ARCHITECTURES = ['x86_64', 'aarch64'] as const;
const DISK_ARCH_ALIASES: Record<string, (typeof DISK_ARCHITECTURES)[number]> = {
  amd64: 'x86_64',
  'x86-64': 'x86_64',
  arm64: 'aarch64',
};

export const PARTITIONS_BY_LAYOUT = {
  ab: ['boot', 'root', 'hash', 'reserved', 'private'],
  dps: ['esp', 'root', 'hash', 'signature'],
  none: [],
} as const;

export const Disk = z
  .strictObject({
    layout: z.enum(DISK_LAYOUTS).default('none').meta({
      description:
        'ab: Bottlerocket-style A/B banks; dps: Discoverable Partitions; none: filesystem image only.',
    }),
    size: Size.optional().meta({ description: 'Total disk size.' }),
    architecture: z
      .string()
      .transform((v, ctx) => {
        const a = DISK_ARCH_ALIASES[v] ?? v;
        if ((DISK_ARCHITECTURES as readonly string[]).includes(a))
          return a as (typeof DISK_ARCHITECTURES)[number];
        ctx.addIssue({
          code: 'custom',
          message: `unknown disk architecture ${JSON.stringify(v)}`,
          params: { hint: `Use ${DISK_ARCHITECTURES.join(' or ')} (amd64/arm64 are accepted too).` },
          input: v,
        });
        return z.NEVER;
      })
      .optional()
      .meta({
        description: 'Picks the partition type GUIDs; defaults from base.platform.',
        examples: ['x86_64', 'aarch64'],
      }),
    partitions: z
      .strictObject({
        boot: Size.optional().meta({ description: 'ab: boot partition of each bank.' }),
        root: Size.optional().meta({ description: 'Root filesystem partition (per bank for ab).' }),
        hash: Size.optional().meta({ description: 'dm-verity hash partition (per bank for ab).' }),
        reserved: Size.optional().meta({ description: 'ab: reserved partition of each bank.' }),
        private: Size.optional().meta({ description: 'ab: shared private partition.' }),
        esp: Size.optional().meta({ description: 'dps: EFI system partition.' }),
        signature: Size.optional().meta({ description: 'dps: root-hash signature partition.' }),
      })
      .optional(),
    data: z
      .strictObject({
        size: z
          .union([z.literal('rest'), Size])
          .default('rest')
          .meta({ description: 'A size, or "rest" to fill the disk.' }),
        filesystem: z.enum(['ext4', 'xfs', 'none']).default('ext4'),
        label: z.string().max(36).default('DATA'),
      })
      .optional()
      .meta({ description: 'The writable data partition, shared by both banks.' }),
  })
  .meta({ description: 'How the filesystem is laid out on a GPT disk.' });

// Outputs, boot, variants -------------------------------------------------------------------------------------

export const OUTPUT_TYPES = ['disk', 'partitions', 'filesystem', 'oci', 'rootfs-tar'] as const;

const OutputObject = z.strictObject({
  type: z.enum(OUTPUT_TYPES),
  path: z
    .string()
    .regex(/^[A-Za-z0-9._][A-Za-z0-9._/-]*$/, {
      error: msg('output path must be a relative file name', 'For example disk.img or out/rootfs.tar.'),
    })
    .refine((p) => !p.split('/').includes('..'), {
      error: msg('output path may not contain ".."', 'Outputs go into the output directory.'),
    })
    .optional(),
  compression: z.enum(['none', 'gzip', 'zstd', 'xz']).optional(),
  ref: z
    .string()
    .regex(REGISTRY_REF, { error: msg('not an image reference', 'Write registry/repository:tag.') })
    .optional()
    .meta({ description: 'oci: where to push the artifact.' }),
});

export const Output = z
  .union([z.enum(OUTPUT_TYPES), OutputObject], {
    error: msg(
      `expected an output type (${OUTPUT_TYPES.join(', ')}) or an object with type`,
      'For example `outputs: [disk, rootfs-tar]`.',
    ),
  })
  .meta({ description: 'An artifact to produce: disk, partitions, filesystem, oci or rootfs-tar.' });

export const Boot = z
  .strictObject({
    kernelArgs: z
      .array(z.string().min(1))
      .optional()
      .meta({ description: 'Kernel command line additions; the build adds the dm-verity arguments itself.' }),
  })
  .meta({ description: 'Boot configuration.' });

const AXIS_VALUE = /^[A-Za-z0-9][A-Za-z0-9._]*$/;
const AXIS_NAME = /^[a-z][a-z0-9_]*$/;

/** A partial recipe a variant value merges on top of the recipe. */
export const RecipeFragment = z
  .strictObject({
    metadata: Metadata.partial().optional(),
    variables: z.lazy(() => Variables).optional(),
    base: z.record(z.string(), z.unknown()).optional().meta({ description: 'Merged into base.' }),
    layers: z.array(Layer).optional(),
    filesystem: Filesystem.optional(),
    verity: Verity.optional(),
    disk: Disk.optional(),
    outputs: z.array(Output).optional(),
    boot: Boot.optional(),
  })
  .meta({
    description: 'Overrides merged on top of the recipe for this variant (same merge rules as extends).',
  });

export const Variants = z
  .strictObject({
    matrix: z
      .record(
        z.string().regex(AXIS_NAME, {
          error: msg('axis names are lowercase identifiers', 'For example arch or flavor.'),
        }),
        z.union(
          [
            z
              .array(
                z.string().regex(AXIS_VALUE, {
                  error: msg(
                    'axis values are letters, digits, "." and "_"',
                    'Variant ids join values with "-", so values cannot contain it.',
                  ),
                }),
              )
              .min(1),
            z.record(
              z.string().regex(AXIS_VALUE, {
                error: msg(
                  'axis values are letters, digits, "." and "_"',
                  'Variant ids join values with "-", so values cannot contain it.',
                ),
              }),
              z.union([RecipeFragment, z.null()]),
            ),
          ],
          {
            error: msg(
              'an axis is a list of values or a mapping of value to overrides',
              'For example `arch: [x86_64, aarch64]` or `flavor: { minimal: {}, debug: { boot: … } }`.',
            ),
          },
        ),
      )
      .meta({
        description:
          'Axes of the matrix; each becomes a ${variable}. Ids join the values in axis order with "-".',
      }),
    exclude: z
      .array(z.record(z.string(), z.string()))
      .optional()
      .meta({ description: 'Combinations to leave out, like GitHub Actions.' }),
  })
  .meta({ description: 'Expand this recipe into several fully resolved recipes.' });

export const Variables = z
  .record(
    z.string().regex(VARIABLE_NAME, {
      error: msg('variable names are identifiers', 'Letters, digits and _, not starting with a digit.'),
    }),
    z.union([z.string(), z.number(), z.boolean()], {
      error: msg('a variable is a string, number or boolean', 'Quote it to be sure: name: "value".'),
    }),
  )
  .meta({
    id: 'variables',
    description: 'Values for ${name} interpolation; --set name=value and DROVER_VAR_name override them.',
  });

export const Recipe = z
  .strictObject({
    $schema: z.string().optional().meta({ description: 'Schema location for editors (ignored by drover).' }),
    apiVersion: z.literal(API_VERSION, {
      error: msg(`apiVersion must be ${API_VERSION}`, `Write \`apiVersion: ${API_VERSION}\`.`),
    }),
    kind: z.literal(KIND, { error: msg(`kind must be ${KIND}`, `Write \`kind: ${KIND}\`.`) }),
    extends: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .meta({
        description:
          'Recipe file(s) to inherit from, relative to this file: maps merge, lists append, !replace replaces.',
      }),
    metadata: Metadata,
    variables: Variables.optional(),
    base: Base,
    layers: z.array(Layer).optional(),
    filesystem: Filesystem.optional(),
    verity: Verity.optional(),
    disk: Disk.optional(),
    outputs: z.array(Output).optional(),
    boot: Boot.optional(),
    variants: Variants.optional(),
  })
  .superRefine(crossFieldRules, always)
  .meta({
    title: 'drover recipe',
    description:
      'A declarative description of an immutable, dm-verity protected OS image (apiVersion drover.dev/v1, kind Recipe).',
  });

export type RecipeInput = z.input<typeof Recipe>;
export type RecipeOutput = z.output<typeof Recipe>;

// ---------------------------------------------------------------------------------------------------------
// Cross-field rules: run even when other parts failed, so every problem is reported at once. Values may be
// half-parsed here, hence the defensive type checks.

const MiB = 1024 * 1024;
/** GPT: 1 MiB alignment before the first partition plus room for the backup table. */
export const GPT_OVERHEAD = 2 * MiB;

const VERITY_KERNEL_ARGS = /^(dm-mod\.create|roothash|usrhash|systemd\.verity[a-z_]*|verity\.[a-z_]+)=/;

function crossFieldRules(v: unknown, ctx: Ctx): void {
  if (!isObject(v)) return;
  const disk = isObject(v.disk) ? v.disk : undefined;
  const verity = isObject(v.verity) ? v.verity : undefined;
  const verityEnabled = verity?.enabled !== false;
  const layout = disk && typeof disk.layout === 'string' ? disk.layout : 'none';
  const add = (path: (string | number)[], message: string, hint: string): void => {
    ctx.addIssue({ code: 'custom', path, message: msg(message, hint), input: v });
  };

  if (disk) {
    const partitions = isObject(disk.partitions) ? disk.partitions : {};
    if (layout === 'none') {
      for (const k of ['size', 'partitions', 'data'] as const) {
        if (disk[k] !== undefined)
          add(
            ['disk', k],
            `disk.${k} has no effect with layout none`,
            'Set `layout: ab` or `layout: dps`, or remove it.',
          );
      }
    } else if (layout === 'ab' || layout === 'dps') {
      const allowed = PARTITIONS_BY_LAYOUT[layout] as readonly string[];
      for (const k of Object.keys(partitions)) {
        if (!allowed.includes(k))
          add(
            ['disk', 'partitions', k],
            `partition ${k} is not part of the ${layout} layout`,
            `The ${layout} layout has ${allowed.join(', ')}.`,
          );
      }
      if (disk.size === undefined)
        add(['disk'], `disk.size is required for the ${layout} layout`, 'For example `size: 4GiB`.');
      if (partitions.root === undefined)
        add(
          ['disk', 'partitions'],
          'partitions.root is required',
          'Size the root partition to hold the filesystem, e.g. `root: 1GiB`.',
        );
      if (verityEnabled && partitions.hash === undefined)
        add(
          ['disk', 'partitions'],
          'partitions.hash is required when verity is enabled',
          'The hash tree needs about 1% of the root partition; 64MiB covers 6GiB of root.',
        );
      for (const [k, size] of Object.entries(partitions)) {
        if (typeof size === 'number' && size % 4096 !== 0)
          add(
            ['disk', 'partitions', k],
            `partition ${k} size ${size} is not a multiple of 4096`,
            'Use whole MiB, e.g. 64MiB.',
          );
        if (typeof size === 'number' && size === 0)
          add(['disk', 'partitions', k], `partition ${k} has size 0`, 'Give it a size or remove it.');
      }
      const sizes = Object.fromEntries(
        Object.entries(partitions).filter(([, s]) => typeof s === 'number'),
      ) as Record<string, number>;
      const per = (k: string): number => sizes[k] ?? 0;
      const defaults = layout === 'ab' ? AB_DEFAULTS : DPS_DEFAULTS;
      const sized = (k: string): number => (partitions[k] === undefined ? (defaults[k] ?? 0) : per(k));
      const fixed =
        layout === 'ab'
          ? 2 * (sized('boot') + sized('root') + (verityEnabled ? sized('hash') : 0) + sized('reserved')) +
            sized('private')
          : sized('esp') +
            sized('root') +
            (verityEnabled ? sized('hash') : 0) +
            (verityEnabled && verity?.signingKey !== undefined ? sized('signature') : 0);
      const data = isObject(disk.data) ? disk.data : undefined;
      const dataSize = data && typeof data.size === 'number' ? data.size : 0;
      const needed = fixed + dataSize + GPT_OVERHEAD;
      if (typeof disk.size === 'number' && needed > disk.size) {
        add(
          ['disk', 'size'],
          `partitions need ${formatBytes(needed)} (including ${formatBytes(GPT_OVERHEAD)} for the GPT) but the disk is ${formatBytes(disk.size)}`,
          `Grow disk.size to at least ${formatBytes(needed)} or shrink the partitions.`,
        );
      } else if (typeof disk.size === 'number' && data && data.size === 'rest' && disk.size - needed < MiB) {
        add(
          ['disk', 'data', 'size'],
          'no room is left for the data partition',
          'Grow disk.size or give the data partition a fixed size.',
        );
      }
      // The hash partition must hold the tree for a full root partition (and FEC parity if enabled).
      if (verityEnabled && typeof partitions.root === 'number' && typeof partitions.hash === 'number') {
        const dbs = typeof verity?.dataBlockSize === 'number' ? verity.dataBlockSize : 4096;
        const hbs = typeof verity?.hashBlockSize === 'number' ? verity.hashBlockSize : 4096;
        const algorithm = typeof verity?.algorithm === 'string' ? verity.algorithm : 'sha256';
        const fecRoots = typeof verity?.fecRoots === 'number' ? verity.fecRoots : 0;
        const need = verityHashBytes(partitions.root, dbs, hbs, algorithm, fecRoots);
        if (need > partitions.hash) {
          add(
            ['disk', 'partitions', 'hash'],
            `the hash partition (${formatBytes(partitions.hash)}) is too small for a ${formatBytes(partitions.root)} root: the verity tree${fecRoots ? ' and FEC parity' : ''} need ${formatBytes(need)}`,
            `Set partitions.hash to at least ${formatBytes(Math.ceil(need / MiB) * MiB)}.`,
          );
        }
      }
      const platform = isObject(v.base) && isObject(v.base.platform) ? v.base.platform : undefined;
      const fromPlatform =
        platform && typeof platform.architecture === 'string'
          ? DISK_ARCH_ALIASES[platform.architecture]
          : undefined;
      if (disk.architecture === undefined && fromPlatform === undefined) {
        add(
          ['disk'],
          'disk.architecture is required (it picks the partition types)',
          'Set `architecture: x86_64` or `aarch64`, or give base.platform.',
        );
      } else if (
        typeof disk.architecture === 'string' &&
        fromPlatform !== undefined &&
        disk.architecture !== fromPlatform
      ) {
        add(
          ['disk', 'architecture'],
          `disk.architecture ${disk.architecture} does not match base.platform (${fromPlatform})`,
          'Use the same architecture for both, e.g. through a ${arch} variable.',
        );
      }
    }
  }

  if (Array.isArray(v.outputs)) {
    const seen = new Map<string, number>();
    v.outputs.forEach((o, i) => {
      const type = typeof o === 'string' ? o : isObject(o) && typeof o.type === 'string' ? o.type : undefined;
      if (type === undefined) return;
      const key = `${type}\0${isObject(o) && typeof o.path === 'string' ? o.path : ''}`;
      if (seen.has(key))
        add(
          ['outputs', i],
          `output ${type} is listed twice (first at outputs[${seen.get(key)}])`,
          'Remove the duplicate, or give each a distinct path.',
        );
      else seen.set(key, i);
      if ((type === 'disk' || type === 'partitions') && layout === 'none') {
        add(
          ['outputs', i],
          `output ${type} needs a disk layout, but disk.layout is none`,
          'Set disk.layout to ab or dps, or use the filesystem output.',
        );
      }
      if (isObject(o) && o.ref !== undefined && type !== 'oci')
        add(['outputs', i, 'ref'], 'ref only applies to the oci output', 'Remove it.');
      if (isObject(o) && o.compression !== undefined && (type === 'oci' || type === 'partitions')) {
        add(['outputs', i, 'compression'], `compression does not apply to the ${type} output`, 'Remove it.');
      }
    });
  }

  const boot = isObject(v.boot) ? v.boot : undefined;
  if (boot && Array.isArray(boot.kernelArgs)) {
    boot.kernelArgs.forEach((arg, i) => {
      if (typeof arg === 'string' && VERITY_KERNEL_ARGS.test(arg)) {
        add(
          ['boot', 'kernelArgs', i],
          `${arg.split('=')[0]}= is set by the build`,
          'The build adds the dm-verity kernel arguments from the verity settings; remove this one.',
        );
      }
    });
  }

  if (Array.isArray(v.layers)) {
    v.layers.forEach((layer, i) => {
      if (!isObject(layer) || !isObject(layer.settings)) return;
      const s = layer.settings;
      const format =
        typeof s.format === 'string'
          ? s.format
          : typeof s.path === 'string' && s.path.endsWith('.json')
            ? 'json'
            : 'toml';
      if (format === 'toml' && isObject(s.values)) {
        const nullAt = findNull(s.values, []);
        if (nullAt)
          add(
            ['layers', i, 'settings', 'values', ...nullAt],
            'TOML has no null value',
            'Remove the key, or render the settings as JSON.',
          );
      }
    });
  }

  if (verity?.signingKey !== undefined && !verityEnabled) {
    add(
      ['verity', 'signingKey'],
      'signingKey has no effect with verity disabled',
      'Enable verity or remove signingKey.',
    );
  }
}

export const AB_DEFAULTS: Record<string, number> = { boot: 40 * MiB, reserved: 16 * MiB, private: 16 * MiB };
export const DPS_DEFAULTS: Record<string, number> = { signature: MiB };

const DIGEST_SIZE: Record<string, number> = { sha256: 32, sha512: 64, sha1: 20 };

/** Bytes a dm-verity hash device needs for `dataBytes` of data: superblock, every tree level and FEC parity. */
export function verityHashBytes(
  dataBytes: number,
  dbs: number,
  hbs: number,
  algorithm: string,
  fecRoots = 0,
): number {
  const ds = DIGEST_SIZE[algorithm] ?? 32;
  let perBlock = 1;
  while (perBlock * 2 <= Math.floor(hbs / ds)) perBlock *= 2;
  const dataBlocks = Math.ceil(dataBytes / dbs);
  let hashBlocks = 0;
  let level = dataBlocks;
  while (level > 1) {
    level = Math.ceil(level / perBlock);
    hashBlocks += level;
  }
  let bytes = Math.ceil(512 / hbs) * hbs + hashBlocks * hbs;
  if (fecRoots > 0) {
    const rsn = 255 - fecRoots;
    const rounds = Math.ceil((dataBlocks + hashBlocks) / rsn);
    bytes += rounds * fecRoots * dbs;
  }
  return bytes;
}

function findNull(value: unknown, path: (string | number)[]): (string | number)[] | undefined {
  if (value === null) return path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const r = findNull(value[i], [...path, i]);
      if (r) return r;
    }
  } else if (isObject(value)) {
    for (const [k, x] of Object.entries(value)) {
      const r = findNull(x, [...path, k]);
      if (r) return r;
    }
  }
  return undefined;
}

function isPowerOfTwo(n: number, min: number, max: number): boolean {
  return Number.isInteger(n) && n >= min && n <= max && (n & (n - 1)) === 0;
}

function formatBytes(n: number): string {
  if (n % MiB === 0) return `${n / MiB}MiB`;
  return `${(n / MiB).toFixed(1)}MiB`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Matches a string holding a `${variable}` reference. */
const VARIABLE_REFERENCE = '\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}';

/**
 * The JSON Schema of a recipe, generated from the validator's own definitions (draft-07, which editors such
 * as yaml-language-server understand). Two adjustments make it fit files as written rather than as resolved:
 * values may hold `${variable}` references (interpolated before validation), and a recipe that `extends`
 * another may leave out anything it inherits.
 */
export function recipeJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(Recipe, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-7',
  }) as Record<string, unknown>;
  const { $schema, $defs, definitions, title, description, ...body } = generated as Record<
    string,
    unknown
  > & {
    $defs?: Record<string, unknown>;
    definitions?: Record<string, unknown>;
  };
  const defs = (definitions ?? $defs ?? {}) as Record<string, unknown>;
  const recipe = allowVariables(body, []) as Record<string, unknown>;
  const helpers = Object.fromEntries(Object.entries(defs).map(([k, v]) => [k, allowVariables(v, [])]));
  return {
    $schema,
    $id: 'https://drover.dev/schemas/recipe/v1.json',
    title,
    description,
    if: { required: ['extends'] },
    // biome-ignore lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here.
    then: { $ref: '#/definitions/partialRecipe' },
    else: { $ref: '#/definitions/recipe' },
    definitions: { ...helpers, recipe, partialRecipe: withoutRequired(recipe) },
  };
}

function allowVariables(node: unknown, path: string[]): unknown {
  if (Array.isArray(node)) return node.map((n) => allowVariables(n, path));
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] =
      k === 'properties' || k === 'definitions'
        ? mapValues(v, (x, key) => allowVariables(x, [...path, key]))
        : allowVariables(v, [...path, k]);
  }
  const fixed = path.length === 1 && (path[0] === 'apiVersion' || path[0] === 'kind');
  if (typeof out.pattern === 'string' && !fixed) {
    out.pattern = `(?:${out.pattern})|${VARIABLE_REFERENCE}`;
  }
  const scalarType =
    out.type === 'integer' ||
    out.type === 'number' ||
    out.type === 'boolean' ||
    out.enum !== undefined ||
    out.const !== undefined;
  if (scalarType && !fixed && out.type !== 'object') {
    const { description: d, default: dflt, examples, ...rest } = out;
    return {
      ...(d === undefined ? {} : { description: d }),
      ...(dflt === undefined ? {} : { default: dflt }),
      ...(examples === undefined ? {} : { examples }),
      anyOf: [rest, { type: 'string', pattern: VARIABLE_REFERENCE }],
    };
  }
  return out;
}

function withoutRequired(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutRequired);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) if (k !== 'required') out[k] = withoutRequired(v);
  return out;
}

function mapValues(v: unknown, fn: (x: unknown, key: string) => unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fn(x, k)]));
}

import {
  type BuildResult,
  build,
  checkReproducible,
  type ReproducibilityDifference,
  type VariantBuild,
} from '@drover/image';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../command.js';

/** What `drover build --json` prints. */
export interface BuildCommandResult extends BuildResult {
  /** With --check-reproducible: whether a second, uncached build was bit-identical. */
  reproducible?: boolean;
  differences?: ReproducibilityDifference[];
}

const CLI_VERSION = '0.0.0';

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export default class Build extends DroverCommand {
  static override summary =
    'Build a recipe into a reproducible, dm-verity protected image (disk, filesystem, SBOM, image.json)';
  static override description =
    'Locks the recipe (updating drover.lock unless --frozen), flattens the base, applies the layers, writes the ' +
    'filesystem, its dm-verity hash tree (and signature), the disk and the other outputs, and image.json. Every ' +
    'step is cached by a digest of its inputs (in $XDG_CACHE_HOME/drover or ~/.cache/drover), so an unchanged ' +
    'rebuild only links cached files into place. With several variants each is built into <out>/<variant>.';
  static override examples = [
    '<%= config.bin %> build examples/minimal/recipe.yaml',
    '<%= config.bin %> build examples/ab-verity/recipe.yaml --out out/ab --frozen',
    '<%= config.bin %> build recipe.yaml --verity-key verity.pem --verity-cert verity.crt --json',
    '<%= config.bin %> build recipe.yaml --check-reproducible',
  ];
  static override args = {
    recipe: Args.string({ description: 'Recipe file', default: 'recipe.yaml' }),
  };
  static override flags = {
    variant: Flags.string({
      summary: 'Only this variant id (repeatable; default: every variant).',
      multiple: true,
    }),
    out: Flags.string({
      summary:
        'Output directory (default out/<name>-<version>; with several variants, one subdirectory each).',
    }),
    frozen: Flags.boolean({
      summary: 'Fail if drover.lock is missing or out of date instead of updating it.',
    }),
    'no-cache': Flags.boolean({ summary: 'Run every step; neither read nor write the step cache.' }),
    'cache-dir': Flags.string({
      summary: 'Step cache directory (default $XDG_CACHE_HOME/drover or ~/.cache/drover).',
    }),
    'check-reproducible': Flags.boolean({
      summary: 'Build a second time without the cache in a temporary directory and compare every byte.',
    }),
    set: Flags.string({
      summary: 'Set a recipe variable: name=value (repeatable; wins over DROVER_VAR_name and the recipe).',
      multiple: true,
    }),
    'verity-key': Flags.string({
      summary: 'PEM private key that signs the verity root hash (overrides verity.signingKey).',
    }),
    'verity-cert': Flags.string({
      summary: 'X.509 certificate of the verity key (default: in the key file, or <key>.crt next to it).',
      dependsOn: ['verity-key'],
    }),
  };

  async run(): Promise<BuildCommandResult> {
    const { args, flags } = await this.parse(Build);
    const options = {
      recipe: args.recipe,
      ...(flags.variant ? { variant: flags.variant } : {}),
      ...(flags.out ? { outDir: flags.out } : {}),
      ...(flags['cache-dir'] ? { cacheDir: flags['cache-dir'] } : {}),
      ...(flags['no-cache'] ? { noCache: true } : {}),
      ...(flags.frozen ? { frozen: true } : {}),
      ...(flags.set ? { set: flags.set } : {}),
      ...(flags['verity-key'] ? { verityKey: flags['verity-key'] } : {}),
      ...(flags['verity-cert'] ? { verityCert: flags['verity-cert'] } : {}),
      env: process.env,
      builderVersion: this.config.version ?? CLI_VERSION,
    };
    // Ctrl-C aborts the build cleanly: staged outputs and half-written cache entries are removed.
    const controller = new AbortController();
    const onSigint = (): void => controller.abort();
    process.once('SIGINT', onSigint);
    let result: BuildCommandResult;
    try {
      const ctx = this.context({ signal: controller.signal });
      if (flags['check-reproducible']) {
        const report = await checkReproducible(options, ctx);
        result = { ...report.first, reproducible: report.reproducible, differences: report.differences };
      } else {
        result = await build(options, ctx);
      }
    } finally {
      process.off('SIGINT', onSigint);
    }
    for (const b of result.builds) this.printBuild(b, result.builds.length > 1);
    if (result.reproducible !== undefined) {
      if (result.reproducible) {
        this.log('Reproducible: a second build without the cache is bit-identical.');
      } else {
        this.log('NOT reproducible: a second build without the cache differs:');
        for (const d of result.differences ?? []) {
          this.log(`  ${d.variant}: ${d.artifact} (${d.path}) differs first at byte ${d.offset}`);
        }
        this.exitCodeOnSuccess = 1;
      }
    }
    return result;
  }

  private printBuild(b: VariantBuild, several: boolean): void {
    const r = b.record;
    this.log(
      `${r.name} ${r.version}${several || b.variant !== 'default' ? ` (${b.variant})` : ''} → ${b.outDir}`,
    );
    for (const s of b.steps) {
      this.log(
        `  ${s.name.padEnd(11)} ${s.cached ? 'cached' : 'built '} ${formatMs(s.durationMs).padStart(9)}${
          !s.cached && s.cpuMs !== undefined && s.cpuMs >= 10 ? `  (cpu ${formatMs(s.cpuMs)})` : ''
        }`,
      );
    }
    const width = Math.max(...r.artifacts.map((a) => a.path.length), 4);
    this.log('  artifacts:');
    for (const a of r.artifacts) {
      this.log(
        `    ${a.path.padEnd(width)}  ${formatBytes(a.size).padStart(9)}  ${a.digest.slice(0, 19)}…  ${a.name}`,
      );
    }
    if (r.verity) this.log(`  root hash: ${r.verity.rootHash}`);
    this.log(`  record:    ${b.recordPath}`);
    this.log(`  built in ${formatMs(b.durationMs)}`);
  }
}

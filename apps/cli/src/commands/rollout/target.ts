import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type Context,
  DroverError,
  type Fleet,
  type ImageRef,
  isDigest,
  isDroverError,
  toDroverError,
  writeAtomically,
} from '@drover/core';
import { digestOfRef, LocalFleet, LocalStore, localRefOf } from '@drover/provider-local';
import {
  type FleetExtensions,
  imageChannelOf,
  imageRefOf,
  type MemberEvent,
  type RolloutResult,
  type RolloutSpec,
  type TimelineEvent,
  type VerifyImage,
  withImage,
} from '@drover/rollout';
import { loadPolicy, type VerifyArtifactResult, verifyArtifact } from '@drover/sign';
import { Flags } from '@oclif/core';
import { fileFleetFor, readFleetDescription, renderTimeline } from './shared.js';

/** The fleet a rollout drives: `local:DIR` (a LocalFleet of A/B disks) or `file:PATH` (a simulated fleet). */
export type FleetSelection = { kind: 'local'; dir: string } | { kind: 'file'; path: string };

/** The default fleet: the local fleet `drover fleet init local` creates. */
export const DEFAULT_FLEET = 'local:.drover/fleet';

export const fleetFlag = Flags.string({
  summary: `Fleet to drive: local:DIR (nodes made by \`drover fleet init local\`) or file:PATH (a simulated fleet description). Default ${DEFAULT_FLEET} (or local:$DROVER_FLEET).`,
  env: 'DROVER_ROLLOUT_FLEET',
});

export const storeFlag = Flags.string({
  summary:
    'Local image store the spec image (a channel or a digest) is resolved from. Default: the local fleet’s store, else .drover/store.',
  env: 'DROVER_STORE',
});

export const policyFlag = Flags.string({
  summary:
    'Verification policy (trusted keys) the image signature must satisfy before a local fleet is touched.',
  default: '.drover/policy.json',
  env: 'DROVER_POLICY',
});

export const imageFlag = Flags.string({
  summary: 'Image to roll out instead of the spec’s: a store channel, local:sha256:… or sha256:….',
});

/** Parse `--fleet`; a bare path is a local fleet if it is a directory holding fleet.json, else a fleet file. */
export async function parseFleetFlag(text: string | undefined): Promise<FleetSelection> {
  // Without --fleet: the local fleet `drover fleet init local` made (it honours DROVER_FLEET too).
  const value = text ?? (process.env.DROVER_FLEET ? `local:${process.env.DROVER_FLEET}` : DEFAULT_FLEET);
  if (value.startsWith('local:')) return { kind: 'local', dir: resolve(value.slice('local:'.length)) };
  if (value.startsWith('file:')) return { kind: 'file', path: resolve(value.slice('file:'.length)) };
  try {
    await stat(join(value, 'fleet.json'));
    return { kind: 'local', dir: resolve(value) };
  } catch {
    return { kind: 'file', path: resolve(value) };
  }
}

/** Open the local fleet `--fleet` selected; a missing one says how to make one or pick a simulated fleet. */
export async function openLocalFleet(selection: { dir: string }): Promise<LocalFleet> {
  try {
    return await LocalFleet.open({ dir: selection.dir });
  } catch (error) {
    if (isDroverError(error, 'FLEET_NOT_FOUND')) {
      throw new DroverError('FLEET_NOT_FOUND', error.message, {
        kind: 'not-found',
        hint: 'Create it with `drover fleet init local --nodes N` (see docs/quickstart.md), or pass --fleet file:FLEET.yaml for a simulated fleet.',
      });
    }
    throw error;
  }
}

/** What `<state>/<id>.target.json` remembers so resume and the control verbs drive the same fleet. */
interface TargetFile {
  fleet: string;
  store?: string;
  policy?: string;
}

const targetPath = (state: string, id: string): string => join(resolve(state), `${id}.target.json`);

async function readTarget(path: string): Promise<TargetFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw toDroverError(error, 'reading the rollout target');
  }
  try {
    return JSON.parse(text) as TargetFile;
  } catch (error) {
    throw new DroverError('ROLLOUT_TARGET_CORRUPT', `${path} is not JSON`, {
      kind: 'integrity',
      cause: error,
      hint: 'It records which fleet the rollout drives ({"fleet": "local:DIR"}); fix or rewrite it.',
    });
  }
}

/** Remember the fleet (and store and policy) a rollout drives. */
export async function recordTarget(state: string, id: string, target: TargetFile): Promise<void> {
  const path = targetPath(state, id);
  await mkdir(resolve(state), { recursive: true }).catch((e) =>
    Promise.reject(toDroverError(e, 'creating the rollout state directory')),
  );
  await writeAtomically(path, (tmp) => writeFile(tmp, `${JSON.stringify(target, null, 2)}\n`));
}

/** A fleet the engine drives, with what the CLI needs to describe it. */
export interface OpenedFleet {
  selection: FleetSelection;
  fleet: Fleet & FleetExtensions;
  /** Set for local fleets: where records and signatures come from. */
  store?: LocalStore;
  policy?: string;
}

/** Open the fleet a stored rollout drives (recorded at start; file-backed otherwise). */
export async function openRolloutFleet(
  state: string,
  id: string,
  fallback: { fleetFile?: string; memberMs: number },
): Promise<OpenedFleet> {
  const target = await readTarget(targetPath(state, id));
  const selection = target ? await parseFleetFlag(target.fleet) : undefined;
  if (selection?.kind === 'local') {
    const fleet = await openLocalFleet(selection);
    return {
      selection,
      fleet,
      store: fleet.store,
      ...(target?.policy ? { policy: target.policy } : {}),
    };
  }
  const description = fallback.fleetFile ? await readFleetDescription(fallback.fleetFile) : undefined;
  return {
    selection: { kind: 'file', path: join(resolve(state), `${id}.fleet.json`) },
    fleet: await fileFleetFor(state, id, description, fallback.memberMs),
  };
}

/** Open the store a rollout resolves its image from; for a local fleet it must be the fleet's own store. */
export async function storeFor(
  selection: FleetSelection,
  storeFlagValue: string | undefined,
  fleet?: LocalFleet,
): Promise<LocalStore> {
  if (fleet) {
    if (storeFlagValue && resolve(storeFlagValue) !== fleet.store.dir) {
      throw new DroverError(
        'ROLLOUT_STORE_MISMATCH',
        `--store ${storeFlagValue} is not the store of fleet ${selection.kind === 'local' ? selection.dir : ''} (${fleet.store.dir})`,
        {
          kind: 'usage',
          hint: 'A local fleet pulls images from the store it was created with; leave out --store or pass that one.',
        },
      );
    }
    return fleet.store;
  }
  return LocalStore.open({ dir: storeFlagValue ?? '.drover/store' });
}

/** What the rollout commands report about the image, from its record in the store. */
export interface RolloutImageInfo {
  ref: ImageRef;
  name: string;
  version: string;
  rootHash?: string;
  /** Where the reference came from: a channel name, or `spec` / `--image`. */
  from: string;
}

/**
 * The image a spec rolls out, resolved against the store: `--image` (a channel or a reference) wins over the
 * spec's `image` (`{ channel: canary }` or a digest). Returns the spec with the concrete reference in it.
 */
export async function resolveSpecImage(
  spec: RolloutSpec,
  store: LocalStore,
  override: string | undefined,
  ctx: Context,
): Promise<{ spec: RolloutSpec; image: RolloutImageInfo }> {
  let ref: ImageRef;
  let from: string;
  const named = override ?? imageChannelOf(spec);
  if (named !== undefined && !named.startsWith('local:') && !isDigest(named)) {
    const found = await store.resolve(named, ctx);
    if (!found) {
      throw new DroverError('CHANNEL_EMPTY', `channel ${named} of ${store.dir} points nowhere`, {
        kind: 'not-found',
        hint: `Publish an image to it first: drover publish image.json --channel ${named} --store ${store.dir}.`,
      });
    }
    ref = found;
    from = `channel ${named}`;
  } else {
    ref = named !== undefined ? localRefOf(digestOfRef(named)) : imageRefOf(spec.image);
    from = override !== undefined ? '--image' : 'spec';
  }
  const record = await store.record(ref, ctx);
  const resolved: ImageRef = { ...localRefOf(digestOfRef(ref), record.version) };
  return {
    spec: withImage(spec, resolved),
    image: {
      ref: resolved,
      name: record.name,
      version: record.version,
      ...(record.verity?.rootHash ? { rootHash: record.verity.rootHash } : {}),
      from,
    },
  };
}

/** Who signed the image, once `verifyImage` ran. */
export interface SignatureInfo {
  verified: true;
  policy: string;
  signer: VerifyArtifactResult['signer'];
  /** Digest of the record file that was signed. */
  signedRecord: string;
}

/**
 * A `VerifyImage` for the engine's preflight: some signature attached to the image in the store must verify
 * under the policy. Codes: IMAGE_UNSIGNED (nothing attached), POLICY_MISSING, and those of `drover verify`
 * (KEY_UNTRUSTED, ARTIFACT_TAMPERED, SIGNATURE_INVALID), DIGEST_MISMATCH for a signed record altered in the store.
 */
export function imageVerifier(
  store: LocalStore,
  policyPath: string,
  onVerified: (info: SignatureInfo) => void,
): VerifyImage {
  return async (image, ctx) => {
    const signatures = await store.signatures(image, ctx);
    if (signatures.length === 0) {
      throw new DroverError('IMAGE_UNSIGNED', `no signature is attached to ${image.uri} in ${store.dir}`, {
        kind: 'denied',
        hint: 'Sign the record (drover sign image.json --key KEY) and publish it again: publish attaches image.json.sigstore.json.',
      });
    }
    const path = resolve(policyPath);
    try {
      await stat(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw toDroverError(error, 'reading policy');
      throw new DroverError('POLICY_MISSING', `no verification policy at ${path}`, {
        kind: 'denied',
        hint: 'Write one listing the keys you trust: {"version": 1, "keys": [{"name": "release", "path": "release.pem.pub"}]}, and pass it with --policy.',
      });
    }
    const policy = await loadPolicy({ path });
    let last: unknown;
    for (const signature of signatures) {
      try {
        // The signed bytes are a blob: re-hash them first, so a record altered in the store is an integrity error.
        await store.verifyBlob(signature.signedRecord, ctx);
        const result = await verifyArtifact(
          { artifact: signature.signedRecordPath, bundle: signature.bundle, policy },
          { ...ctx, onProgress: undefined },
        );
        onVerified({
          verified: true,
          policy: path,
          signer: result.signer,
          signedRecord: signature.signedRecord,
        });
        return;
      } catch (error) {
        last = error;
      }
    }
    throw last;
  };
}

/** Counts of members by what the rollout did to them, for live progress lines. */
export class ProgressPrinter {
  readonly #t0 = Date.now();
  readonly #state = new Map<string, 'updating' | 'updated' | 'failed' | 'rolling back' | 'rolled back'>();
  #stage = -1;

  constructor(
    private readonly total: number,
    private readonly print: (line: string) => void,
  ) {}

  #at(): string {
    return renderTimeline([{ type: 'status', offsetMs: Date.now() - this.#t0 }])[0]?.slice(0, 10) ?? '';
  }

  #counts(): string {
    const n = (s: string) => [...this.#state.values()].filter((v) => v === s).length;
    const touched = this.#state.size;
    const parts = [
      `${n('updated')} updated`,
      `${n('updating')} updating`,
      `${n('failed')} failed`,
      ...(n('rolling back') + n('rolled back') > 0
        ? [`${n('rolling back')} rolling back`, `${n('rolled back')} rolled back`]
        : []),
      `${this.total - touched} untouched`,
    ];
    const step = this.#stage >= 0 ? `[step ${this.#stage + 1}] ` : '';
    return `${step}${parts.join(' · ')}`;
  }

  onEvent = (e: TimelineEvent): void => {
    if (e.type === 'stage-start' && e.stage !== undefined) this.#stage = e.stage;
    this.print(renderTimeline([{ ...e, offsetMs: e.at - this.#t0 }])[0] as string);
  };

  onMember = (e: MemberEvent): void => {
    const rollback = e.op === 'rollback';
    const state =
      e.phase === 'started'
        ? rollback
          ? 'rolling back'
          : 'updating'
        : e.phase === 'done'
          ? rollback
            ? 'rolled back'
            : 'updated'
          : 'failed';
    this.#state.set(e.member, state);
    const what =
      e.phase === 'started'
        ? `${e.op} started`
        : e.phase === 'done'
          ? `${e.op} done`
          : `${e.op} failed${e.reason ? `: ${e.reason}` : ''}`;
    this.print(`${this.#at()} ${e.member} ${what}   ${this.#counts()}`);
  };
}

/** The final summary of a run on a real (local) fleet: image, root hash, members updated, duration. */
export function imageSummaryLines(image: RolloutImageInfo, signature: SignatureInfo | undefined): string[] {
  return [
    `image ${image.name} ${image.version} ${image.ref.digest} (from ${image.from})`,
    ...(image.rootHash ? [`root hash ${image.rootHash}`] : []),
    ...(signature
      ? [
          `signature verified under ${signature.policy}: ${signature.signer.keyName ?? signature.signer.subject}`,
        ]
      : []),
  ];
}

/** What `rollout start|resume --json` prints: the engine's result plus the image and fleet it ran on. */
export type RolloutRunResult = RolloutResult & {
  fleet: string;
  image?: RolloutImageInfo;
  signature?: SignatureInfo;
};

/** `local:/abs/dir` or `file:/abs/path`. */
export function fleetLabel(selection: FleetSelection): string {
  return selection.kind === 'local' ? `local:${selection.dir}` : `file:${selection.path}`;
}

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type Artifact,
  type Context,
  DroverError,
  type Fleet,
  type FleetConstraints,
  type FleetMember,
  type HealthResult,
  type ImageRecord,
  type ImageRef,
  type MemberState,
  startProgress,
  throwIfAborted,
  toDroverError,
  type VerityRecord,
  writeAtomically,
} from '@drover/core';
import {
  abLabels,
  abLayout,
  BOTTLEROCKET_TYPES,
  DPS_TYPES,
  readDisk,
  readGptPrio,
  writeDisk,
  writeGptPrio,
} from '@drover/image';
import { digestOfRef, LocalStore } from './store.js';
import { verifyPartitions } from './verify.js';

/** One of the two banks of an A/B disk. */
export type Bank = 'a' | 'b';

/** A node as `fleet.json` describes it. */
export interface LocalNodeSpec {
  id: string;
  region: string;
  zone: string;
  /** 0..2047 */
  seed: number;
}

/** The fleet description kept in `<dir>/fleet.json`. */
export interface LocalFleetFile {
  schemaVersion: 1;
  id: string;
  /** Absolute path of the image store the fleet pulls images from. */
  store: string;
  labelPrefix: string;
  rootSize: number;
  hashSize: number;
  nodes: LocalNodeSpec[];
}

/** The last simulated boot of a node. */
export interface BootRecord {
  at: string;
  bank: Bank | null;
  /** Banks tried and failed before it, in order. */
  failed: { bank: Bank; reason: string }[];
}

/** What `<dir>/nodes/<id>/state.json` holds; the GPT attribute bits stay the truth for bank selection. */
export interface LocalNodeState {
  id: string;
  /** The bank running now; null when no bank could boot. */
  booted: Bank | null;
  /** The image written (and verified) into each bank. */
  banks: { a?: ImageRef; b?: ImageRef };
  state: MemberState;
  /** Set while an update runs: the process doing it (a dead pid means the update was interrupted). */
  updating?: { pid: number; bank: Bank; image: ImageRef; since: string };
  boots: number;
  lastBoot?: BootRecord;
  lastHealth?: HealthResult;
}

/** Options of `LocalFleet.init`. */
export interface InitLocalFleetOptions {
  /** Fleet directory; must not hold a fleet already. */
  dir: string;
  /** Image store directory (created if missing). */
  store: string;
  /** How many nodes, 1..999. */
  nodes: number;
  /** Zones to spread the nodes over round-robin, as `zone` or `region/zone`. Default `local/zone-a..c`. */
  zones?: string[];
  /** Region of zones given without one; default `local`. */
  region?: string;
  /** Image written and verified into bank A of every node (known good). Default: nodes start empty. */
  image?: ImageRef;
  /** Each bank's root partition size in bytes; default 8 MiB. */
  rootSize?: number;
  /** Each bank's hash partition size in bytes; default 1 MiB. */
  hashSize?: number;
  /** Fleet id; default `local`. */
  id?: string;
}

/** Where a local fleet's traffic goes: `<dir>/active-set.json`, written by `switchTraffic`. */
export interface ActiveSet {
  image: ImageRef;
  /** Nodes that ran the image (and were ready) when traffic switched to it. */
  members: string[];
  /** RFC 3339. */
  switchedAt: string;
}

/** A fault to inject into one node's next boots or health checks. */
export interface InjectFaultOptions {
  node: string;
  /** Make the next N boot attempts fail (true = 1, false/0 clears). */
  failBoots?: boolean | number;
  /** Make health checks fail until cleared. */
  unhealthy?: boolean;
}

const MIB_BYTES = 1024 * 1024;
const FAIL_BOOT_FILE = 'fail-next-boot';
const ACTIVE_SET_FILE = 'active-set.json';
const UNHEALTHY_FILE = 'unhealthy';
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const other = (bank: Bank): Bank => (bank === 'a' ? 'b' : 'a');

/** The context without progress reporting: per-partition steps of a node are too small to show. */
function withoutProgress(ctx: Context): Context {
  const { onProgress: _ignored, ...rest } = ctx;
  return rest;
}

/** The seed (0..2047) of a node id: stable, so simulated time waves do not change between runs. */
export function seedOfNode(id: string): number {
  return createHash('sha256').update(id).digest().readUInt16BE(0) % 2048;
}

async function readJson<T>(path: string, what: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw toDroverError(error, `reading ${what}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new DroverError('FLEET_STATE_CORRUPT', `${what} (${path}) is not valid JSON`, {
      kind: 'integrity',
      cause: error,
      hint: 'The file is written atomically by drover; something else changed it. Recreate the fleet.',
    });
  }
}

const writeJson = (path: string, value: unknown): Promise<void> =>
  writeAtomically(path, (tmp) => writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const ROOT_NAMES = ['root', 'rootfs', 'root.img'];
const HASH_NAMES = ['root-verity', 'verity', 'hash', 'root.hash'];
const ROOT_TYPES = new Set([BOTTLEROCKET_TYPES.root, DPS_TYPES['x86-64'].root, DPS_TYPES.arm64.root]);
const HASH_TYPES = new Set([
  BOTTLEROCKET_TYPES.hash,
  DPS_TYPES['x86-64']['root-verity'],
  DPS_TYPES.arm64['root-verity'],
]);

/** Bytes from the start of a hash device that a dm-verity tree (with its superblock) occupies. */
export function verityTreeBytes(verity: VerityRecord): number {
  const digestBytes = verity.algorithm === 'sha512' ? 64 : 32;
  const perBlock = verity.hashBlockSize / digestBytes;
  let n = verity.dataBlocks;
  let blocks = 0;
  // One level per factor of perBlock; a single data block needs no hash blocks (the root hashes it directly).
  while (n > 1) {
    n = Math.ceil(n / perBlock);
    blocks += n;
  }
  return (
    (verity.hashOffset ?? 0) +
    (verity.superblock === false ? 0 : verity.hashBlockSize) +
    blocks * verity.hashBlockSize
  );
}

/** Where a bank's root or hash content comes from: an artifact blob, or a range of a disk artifact. */
interface BankSource {
  what: string;
  size: number;
  open(): Readable;
}

/** The root filesystem and hash tree artifacts of a record (`root` + `root-verity`), if it has them. */
export function bankArtifactsOf(record: ImageRecord): { root: Artifact; hash?: Artifact } | undefined {
  const root = record.artifacts.find((a) => ROOT_NAMES.includes(a.name));
  if (!root) return undefined;
  const hash = record.artifacts.find((a) => HASH_NAMES.includes(a.name));
  return hash ? { root, hash } : { root };
}

/** What one bank must hold for an image, and bank sizes that fit it (see `bankSizesFor`). */
export interface BankSizes {
  /** Bytes of root filesystem the image writes into a bank's root partition. */
  rootBytes: number;
  /** Bytes of hash tree the image writes into a bank's hash partition (0 when the tree follows the data). */
  hashBytes: number;
  /** Suggested root partition size: rootBytes plus `headroom`, rounded up to a MiB (at least 1 MiB). */
  rootSize: number;
  /** Suggested hash partition size, the same way. */
  hashSize: number;
}

const roundUpMiB = (n: number): number => Math.max(1, Math.ceil(n / MIB_BYTES)) * MIB_BYTES;

/**
 * The bank sizes an image needs on a local fleet: its `root` and `root-verity` artifact sizes when it has them,
 * else what `update` copies out of its `disk` artifact (the verity data blocks and the hash tree, not the whole
 * partitions). `headroom` (default 0.5 = 50%) leaves room for later, larger images.
 */
export function bankSizesFor(record: ImageRecord, options: { headroom?: number } = {}): BankSizes {
  const headroom = 1 + (options.headroom ?? 0.5);
  const artifacts = bankArtifactsOf(record);
  let rootBytes: number;
  let hashBytes: number;
  if (artifacts) {
    rootBytes = artifacts.root.size;
    hashBytes = artifacts.hash?.size ?? 0;
  } else if (record.verity && record.artifacts.some((a) => a.name === 'disk')) {
    rootBytes = record.verity.dataBlocks * record.verity.dataBlockSize;
    hashBytes = verityTreeBytes(record.verity);
  } else {
    throw new DroverError(
      'FLEET_IMAGE_NO_ROOT',
      `image ${record.name} ${record.version} has no root filesystem to size banks for`,
      {
        hint: 'An A/B update needs artifacts named root and root-verity, or a disk artifact with a verity record.',
        details: { artifacts: record.artifacts.map((a) => a.name) },
      },
    );
  }
  return {
    rootBytes,
    hashBytes,
    rootSize: roundUpMiB(rootBytes * headroom),
    hashSize: roundUpMiB(hashBytes * headroom),
  };
}

/**
 * A fleet of local "machines": one directory per node holding a GPT disk with Bottlerocket-style A/B banks,
 * its state and its fault flags. Updates write the inactive bank, verify its dm-verity root hash against the
 * image record, flip the gptprio bits as Bottlerocket's signpost does, and boot; boots and health checks
 * fall back to the other bank by themselves. All state is in files, so another process sees the same truth.
 */
export class LocalFleet implements Fleet {
  readonly id: string;
  readonly dir: string;
  readonly spec: LocalFleetFile;
  readonly store: LocalStore;
  readonly #locks = new Map<string, Promise<unknown>>();

  private constructor(dir: string, spec: LocalFleetFile, store: LocalStore) {
    this.dir = dir;
    this.spec = spec;
    this.store = store;
    this.id = `local:${spec.id}`;
  }

  /** Create a fleet directory with N nodes, each with a fresh A/B disk (bank A known good). */
  static async init(options: InitLocalFleetOptions, ctx: Context = {}): Promise<LocalFleet> {
    const dir = resolve(options.dir);
    if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 999) {
      throw new DroverError('FLEET_BAD_SIZE', `a local fleet has 1 to 999 nodes, not ${options.nodes}`, {
        kind: 'usage',
        hint: 'Pass --nodes between 1 and 999.',
      });
    }
    if (await readJson(join(dir, 'fleet.json'), 'fleet file')) {
      throw new DroverError('FLEET_EXISTS', `${dir} already holds a fleet`, {
        kind: 'conflict',
        hint: 'Pick another directory, or remove this one to start over.',
      });
    }
    const region = options.region ?? 'local';
    const zones = (options.zones?.length ? options.zones : ['zone-a', 'zone-b', 'zone-c']).map((z) => {
      const [r, zone] = z.includes('/') ? z.split('/', 2) : [region, z];
      if (!r || !zone) {
        throw new DroverError('FLEET_BAD_ZONE', `bad zone ${JSON.stringify(z)}`, {
          kind: 'usage',
          hint: 'Zones are `zone` or `region/zone`, such as eu-west-1/eu-west-1a.',
        });
      }
      return { region: r, zone };
    });
    const width = Math.max(2, String(options.nodes).length);
    const nodes: LocalNodeSpec[] = [];
    for (let i = 0; i < options.nodes; i++) {
      const id = `node-${String(i + 1).padStart(width, '0')}`;
      const z = zones[i % zones.length] as { region: string; zone: string };
      nodes.push({ id, region: z.region, zone: z.zone, seed: seedOfNode(id) });
    }
    const rootSize = options.rootSize ?? 8 * MIB_BYTES;
    const hashSize = options.hashSize ?? MIB_BYTES;
    for (const [name, size] of [
      ['rootSize', rootSize],
      ['hashSize', hashSize],
    ] as const) {
      if (!Number.isSafeInteger(size) || size < 4096 || size % 512 !== 0) {
        throw new DroverError(
          'FLEET_BAD_BANK_SIZE',
          `${name} ${size} is not a multiple of 512 of at least 4 KiB`,
          {
            kind: 'usage',
            hint: 'Use sizes such as 8 MiB for the root and 1 MiB for the hash partition.',
          },
        );
      }
    }
    const store = await LocalStore.open({ dir: options.store });
    const spec: LocalFleetFile = {
      schemaVersion: 1,
      id: options.id ?? 'local',
      store: store.dir,
      labelPrefix: 'DROVER',
      rootSize,
      hashSize,
      nodes,
    };
    const fleet = new LocalFleet(dir, spec, store);
    const record = options.image ? await store.record(options.image, ctx) : undefined;
    const progress = startProgress(ctx, {
      task: `fleet.init:${dir}`,
      label: 'creating nodes',
      unit: 'items',
      total: nodes.length,
    });
    const inner = withoutProgress(ctx);
    try {
      for (const node of nodes) {
        await fleet.#createNode(node, options.image, record, inner);
        progress.advance(1);
      }
      progress.done(true);
    } catch (error) {
      progress.done(false);
      throw error;
    }
    await writeJson(join(dir, 'fleet.json'), spec);
    return fleet;
  }

  /** One node directory: a fresh A/B disk, bank A holding `image` (verified) when given, and its state. */
  async #createNode(
    node: LocalNodeSpec,
    image: ImageRef | undefined,
    record: ImageRecord | undefined,
    ctx: Context,
  ): Promise<void> {
    throwIfAborted(ctx);
    const nodeDir = this.#nodeDir(node.id);
    await mkdir(nodeDir, { recursive: true }).catch((e) => Promise.reject(toDroverError(e, 'fleet init')));
    await writeDisk({ output: this.diskPath(node.id), layout: this.#layout() }, ctx);
    const state: LocalNodeState = { id: node.id, booted: 'a', banks: {}, state: 'ready', boots: 0 };
    if (image && record) {
      await this.#writeBank(node.id, 'a', image, record, ctx);
      state.banks.a = { ...image, ...(record.version ? { version: record.version } : {}) };
    }
    await writeJson(this.#statePath(node.id), state);
  }

  /** Open an existing fleet directory. */
  static async open(options: { dir: string }): Promise<LocalFleet> {
    const dir = resolve(options.dir);
    const spec = await readJson<LocalFleetFile>(join(dir, 'fleet.json'), 'fleet file');
    if (!spec) {
      throw new DroverError('FLEET_NOT_FOUND', `no local fleet in ${dir}`, {
        kind: 'not-found',
        hint: 'Create one with `drover fleet init local --nodes N`.',
      });
    }
    if (spec.schemaVersion !== 1) {
      throw new DroverError('FLEET_UNSUPPORTED', `fleet file schema ${String(spec.schemaVersion)}`, {
        hint: 'This drover reads schemaVersion 1 fleets; upgrade drover.',
      });
    }
    return new LocalFleet(dir, spec, await LocalStore.open({ dir: spec.store }));
  }

  #layout() {
    return abLayout({
      rootSize: this.spec.rootSize,
      hashSize: this.spec.hashSize,
      bootSize: MIB_BYTES,
      reservedSize: MIB_BYTES,
      privateSize: MIB_BYTES,
      dataSize: MIB_BYTES,
      labelPrefix: this.spec.labelPrefix,
    });
  }

  #node(id: string): LocalNodeSpec {
    const node = NODE_ID.test(id) ? this.spec.nodes.find((n) => n.id === id) : undefined;
    if (!node) {
      throw new DroverError('FLEET_UNKNOWN_NODE', `fleet ${this.spec.id} has no node ${JSON.stringify(id)}`, {
        kind: 'not-found',
        hint: `Nodes: ${this.spec.nodes.map((n) => n.id).join(', ')}.`,
      });
    }
    return node;
  }

  #nodeDir(id: string): string {
    return join(this.dir, 'nodes', id);
  }

  #statePath(id: string): string {
    return join(this.#nodeDir(id), 'state.json');
  }

  /** The GPT disk file of a node. */
  diskPath(id: string): string {
    return join(this.#nodeDir(id), 'disk.img');
  }

  /** Run `body` with the node to itself (within this process). */
  async #exclusive<T>(id: string, body: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(id) ?? Promise.resolve();
    const run = before.then(body, body);
    this.#locks.set(
      id,
      run.catch(() => undefined),
    );
    return run;
  }

  /** A node's state file as it stands (an update whose process died shows as not updating). */
  async nodeState(id: string, ctx: Context = {}): Promise<LocalNodeState> {
    throwIfAborted(ctx);
    this.#node(id);
    const state = await readJson<LocalNodeState>(this.#statePath(id), `state of ${id}`);
    if (!state) {
      throw new DroverError('FLEET_STATE_MISSING', `node ${id} has no state file`, {
        kind: 'integrity',
        hint: 'The fleet directory is incomplete; recreate it with `drover fleet init`.',
      });
    }
    if (state.updating && !pidAlive(state.updating.pid)) {
      // The updating process died before the node rebooted: it still runs the bank it booted last (the GPT may
      // already prefer the new bank, which the next reboot then tries).
      delete state.updating;
      state.state = state.booted ? 'ready' : 'unavailable';
    }
    return state;
  }

  #member(spec: LocalNodeSpec, state: LocalNodeState): FleetMember {
    const image = state.booted ? state.banks[state.booted] : undefined;
    return {
      id: spec.id,
      region: spec.region,
      zone: spec.zone,
      seed: spec.seed,
      state: state.state,
      ...(image ? { image } : {}),
      labels: { bank: state.booted ?? 'none', disk: this.diskPath(spec.id) },
    };
  }

  /** Every node as a fleet member. */
  async members(ctx: Context = {}): Promise<FleetMember[]> {
    const out: FleetMember[] = [];
    for (const spec of this.spec.nodes) out.push(this.#member(spec, await this.nodeState(spec.id, ctx)));
    return out;
  }

  /** One member by id. */
  async member(id: string, ctx: Context = {}): Promise<FleetMember | undefined> {
    const spec = this.spec.nodes.find((n) => n.id === id);
    return spec ? this.#member(spec, await this.nodeState(id, ctx)) : undefined;
  }

  /**
   * Send the fleet's traffic to the nodes running `image` (blue-green's switch): `<dir>/active-set.json` names the
   * image and those nodes, replaced atomically. Idempotent. Refuses when no node runs the image.
   */
  async switchTraffic(image: ImageRef, ctx: Context = {}): Promise<void> {
    const digest = digestOfRef(image);
    const members = (await this.members(ctx)).filter(
      (m) => m.image?.digest === digest && m.state === 'ready',
    );
    if (members.length === 0) {
      throw new DroverError('FLEET_NO_ACTIVE_SET', `no ready node of ${this.spec.id} runs ${digest}`, {
        kind: 'conflict',
        hint: 'Bring nodes up on the image before switching traffic to it.',
      });
    }
    const active: ActiveSet = {
      image: { ...image, digest },
      members: members.map((m) => m.id),
      switchedAt: new Date().toISOString(),
    };
    await writeJson(join(this.dir, ACTIVE_SET_FILE), active);
  }

  /** Where traffic goes now (the last `switchTraffic`), or undefined before any switch. */
  async activeSet(): Promise<ActiveSet | undefined> {
    return readJson<ActiveSet>(join(this.dir, ACTIVE_SET_FILE), 'active set');
  }

  /** The local fleet adds no limits of its own. */
  async constraints(): Promise<FleetConstraints> {
    return {};
  }

  /** Set or clear simulated faults on a node (flag files in its directory, so any process can set them). */
  async injectFault(options: InjectFaultOptions): Promise<void> {
    this.#node(options.node);
    const dir = this.#nodeDir(options.node);
    try {
      if (options.failBoots !== undefined) {
        const n = options.failBoots === true ? 1 : options.failBoots === false ? 0 : options.failBoots;
        if (n > 0) await writeFile(join(dir, FAIL_BOOT_FILE), `${n}\n`);
        else await rm(join(dir, FAIL_BOOT_FILE), { force: true });
      }
      if (options.unhealthy !== undefined) {
        if (options.unhealthy) await writeFile(join(dir, UNHEALTHY_FILE), 'unhealthy\n');
        else await rm(join(dir, UNHEALTHY_FILE), { force: true });
      }
    } catch (error) {
      throw toDroverError(error, `injecting a fault into ${options.node}`);
    }
  }

  /** Consume one pending boot failure of a node; true when this boot must fail. */
  async #takeBootFailure(id: string): Promise<boolean> {
    const path = join(this.#nodeDir(id), FAIL_BOOT_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw toDroverError(error, 'reading a boot fault');
    }
    const n = Number.parseInt(text.trim() || '1', 10);
    const left = Number.isFinite(n) ? n - 1 : 0;
    if (left > 0) await writeFile(path, `${left}\n`);
    else await unlink(path).catch(() => undefined);
    return true;
  }

  async #unhealthyFlag(id: string): Promise<boolean> {
    try {
      await stat(join(this.#nodeDir(id), UNHEALTHY_FILE));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw toDroverError(error, 'reading a health fault');
    }
  }

  #bootLabel(bank: Bank): string {
    return abLabels(this.spec.labelPrefix).boot[bank];
  }

  /**
   * Simulate a (re)boot as a gptprio bootloader does: among banks with priority > 0 and either tries left or
   * marked successful, take the highest priority (A on a tie); decrement tries of an unconfirmed bank before
   * booting it; a failed attempt reboots and tries again, so an unconfirmed bank that fails is skipped once
   * its tries run out and the machine falls back by itself.
   */
  async #boot(id: string, state: LocalNodeState, ctx: Context): Promise<LocalNodeState> {
    const disk = this.diskPath(id);
    const failed: BootRecord['failed'] = [];
    let booted: Bank | null = null;
    for (let attempt = 0; attempt < 40 && booted === null; attempt++) {
      throwIfAborted(ctx);
      const prio = {
        a: await readGptPrio({ path: disk, partition: this.#bootLabel('a') }, ctx),
        b: await readGptPrio({ path: disk, partition: this.#bootLabel('b') }, ctx),
      };
      const candidates = (['a', 'b'] as const)
        .filter((b) => prio[b].priority > 0 && (prio[b].successful || prio[b].tries > 0))
        .sort((x, y) => prio[y].priority - prio[x].priority);
      const bank = candidates[0];
      if (!bank) break;
      if (!prio[bank].successful) {
        await writeGptPrio(
          { path: disk, partition: this.#bootLabel(bank), tries: prio[bank].tries - 1 },
          ctx,
        );
      }
      if (!state.banks[bank]) {
        failed.push({ bank, reason: 'bank holds no image' });
        // An empty bank can never boot: take it out of the running so the loop ends.
        await writeGptPrio({ path: disk, partition: this.#bootLabel(bank), priority: 0, tries: 0 }, ctx);
      } else if (await this.#takeBootFailure(id)) {
        failed.push({ bank, reason: 'simulated boot failure' });
      } else {
        booted = bank;
      }
    }
    state.boots++;
    state.booted = booted;
    state.state = booted ? 'ready' : 'unavailable';
    state.lastBoot = { at: new Date().toISOString(), bank: booted, failed };
    return state;
  }

  /**
   * The root and hash content of an image: its `root` / `root-verity` artifacts, or else the root and hash
   * (or DPS root-verity) partitions of its `disk` artifact, whose blob is verified against its digest first.
   */
  async #bankSources(
    record: ImageRecord,
    verity: VerityRecord,
    ctx: Context,
  ): Promise<{ root: BankSource; hash?: BankSource }> {
    const artifacts = bankArtifactsOf(record);
    if (artifacts) {
      const of = (a: Artifact): BankSource => ({
        what: a.name,
        size: a.size,
        open: () => this.store.openBlob(a.digest),
      });
      return artifacts.hash
        ? { root: of(artifacts.root), hash: of(artifacts.hash) }
        : { root: of(artifacts.root) };
    }
    const diskArtifact = record.artifacts.find((a) => a.name === 'disk');
    if (!diskArtifact) {
      throw new DroverError(
        'FLEET_IMAGE_NO_ROOT',
        `image ${record.name} ${record.version} has no root filesystem to write`,
        {
          hint: `An A/B update needs artifacts named root and root-verity, or a disk artifact with root and hash partitions.`,
          details: { artifacts: record.artifacts.map((a) => a.name) },
        },
      );
    }
    await this.store.verifyBlob(diskArtifact.digest, ctx);
    const blob = this.store.blobPath(diskArtifact.digest);
    const info = await readDisk({ path: blob }, ctx);
    const rootPart = info.partitions.find((p) => ROOT_TYPES.has(p.typeGuid));
    const hashPart = info.partitions.find((p) => HASH_TYPES.has(p.typeGuid));
    if (!rootPart || !hashPart) {
      throw new DroverError(
        'FLEET_IMAGE_NO_ROOT',
        `the disk of ${record.name} ${record.version} has no root and hash partitions`,
        {
          hint: 'Build the image with the ab or dps disk layout.',
          details: { partitions: info.partitions.map((p) => p.label) },
        },
      );
    }
    const range = (what: string, offset: number, size: number): BankSource => ({
      what,
      size,
      open: () =>
        createReadStream(blob, {
          start: offset,
          end: offset + Math.max(size, 1) - 1,
          highWaterMark: 1 << 20,
        }),
    });
    const dataBytes = verity.dataBlocks * verity.dataBlockSize;
    return {
      root: range(`partition ${rootPart.label}`, rootPart.offset, Math.min(dataBytes, rootPart.size)),
      hash: range(
        `partition ${hashPart.label}`,
        hashPart.offset,
        Math.min(verityTreeBytes(verity), hashPart.size),
      ),
    };
  }

  /** Copy an image's root and hash tree into a bank's partitions and verify the root hash of what landed. */
  async #writeBank(id: string, bank: Bank, ref: ImageRef, record: ImageRecord, ctx: Context): Promise<void> {
    const verity = record.verity;
    if (!verity) {
      throw new DroverError(
        'FLEET_IMAGE_UNVERIFIED',
        `image ${record.name} ${record.version} has no dm-verity record`,
        {
          kind: 'integrity',
          hint: 'Only images with a verity root hash can be written to a bank; build with verity enabled.',
        },
      );
    }
    const { root, hash } = await this.#bankSources(record, verity, ctx);
    const labels = abLabels(this.spec.labelPrefix);
    const disk = this.diskPath(id);
    const info = await readDisk({ path: disk }, ctx);
    const part = (label: string) => {
      const p = info.partitions.find((x) => x.label === label);
      if (!p) {
        throw new DroverError('FLEET_DISK_LAYOUT', `${disk} has no partition ${label}`, {
          kind: 'integrity',
          hint: 'The disk was not written by `drover fleet init`; recreate the fleet.',
        });
      }
      return p;
    };
    const rootPart = part(labels.root[bank]);
    const hashPart = part(labels.hash[bank]);
    for (const [source, p] of [[root, rootPart], ...(hash ? [[hash, hashPart] as const] : [])] as const) {
      if (source.size > p.size) {
        throw new DroverError(
          'FLEET_PARTITION_TOO_SMALL',
          `${source.what} of ${record.name} ${record.version} is ${source.size} bytes; ${p.label} holds ${p.size}`,
          {
            hint: 'Create the fleet with larger banks (--root-size / --hash-size).',
            details: { ref: ref.uri },
          },
        );
      }
      // The store hashes the blob as it streams out and fails the pipeline at the end on a mismatch.
      await pipeline(
        source.open(),
        createWriteStream(disk, { flags: 'r+', start: p.offset }),
        ctx.signal ? { signal: ctx.signal } : {},
      ).catch((e) => Promise.reject(toDroverError(e, `writing ${source.what} into ${p.label}`)));
    }
    const scratch = await mkdtemp(join(tmpdir(), 'drover-bank-'));
    try {
      const result = await verifyPartitions(
        {
          disk,
          root: { offset: rootPart.offset, size: root.size },
          hash: hash ? { offset: hashPart.offset, size: hash.size } : undefined,
          verity,
          scratch,
        },
        ctx,
      );
      if (!result.ok) {
        throw new DroverError(
          'FLEET_VERITY_MISMATCH',
          `bank ${bank.toUpperCase()} of ${id} does not match the root hash of ${record.name} ${record.version}`,
          {
            kind: 'integrity',
            hint: 'The image record and its artifacts disagree (or the disk is failing); the bank was not made bootable. Rebuild and republish the image.',
            details: { expected: verity.rootHash, actual: result.rootHash, ref: ref.uri },
          },
        );
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /**
   * Update a node in place: write `image` into its inactive bank, verify the dm-verity root hash, mark that bank
   * to be tried once with the highest priority (signpost's `upgrade_to_inactive`), and reboot. The returned
   * member runs the new image, or the old one when the boot failed and fell back.
   */
  async update(member: FleetMember, image: ImageRef, ctx: Context = {}): Promise<FleetMember> {
    const spec = this.#node(member.id);
    return this.#exclusive(member.id, async () => {
      const record = await this.store.record(image, ctx);
      const ref: ImageRef = { ...image, digest: digestOfRef(image) };
      let state = await this.nodeState(member.id, ctx);
      if (state.booted === null) {
        throw new DroverError('FLEET_NODE_DOWN', `${member.id} is not running any bank`, {
          kind: 'unavailable',
          hint: 'Neither bank can boot; recreate the node (fleet init) before updating it.',
        });
      }
      const disk = this.diskPath(member.id);
      const active = state.booted;
      const activePrio = await readGptPrio({ path: disk, partition: this.#bootLabel(active) }, ctx);
      const inactive = other(active);
      if (!activePrio.successful) {
        const back = await readGptPrio({ path: disk, partition: this.#bootLabel(inactive) }, ctx);
        if (back.successful && back.priority > 0 && state.banks[inactive]?.digest === ref.digest) {
          // Going back to the known-good image in the other bank (a rollback before the new bank was confirmed):
          // signpost `rollback_to_inactive` just prefers that bank again; nothing is rewritten.
          await writeGptPrio({ path: disk, partition: this.#bootLabel(inactive), priority: 2 }, ctx);
          await writeGptPrio({ path: disk, partition: this.#bootLabel(active), priority: 1 }, ctx);
          state.state = 'rebooting';
          await writeJson(this.#statePath(member.id), state);
          state = await this.#boot(member.id, state, ctx);
          await writeJson(this.#statePath(member.id), state);
          return this.#member(spec, state);
        }
        // Writing the other bank now would destroy the last known-good image.
        throw new DroverError(
          'FLEET_NODE_UNCONFIRMED',
          `${member.id} runs bank ${active.toUpperCase()}, which has not passed a health check yet`,
          {
            kind: 'conflict',
            hint: 'Check its health first (it falls back if unhealthy), or roll it back to the image of its other bank; then update.',
          },
        );
      }
      // signpost `clear_inactive`: never leave a half-written bank bootable.
      await writeGptPrio(
        { path: disk, partition: this.#bootLabel(inactive), priority: 0, tries: 0, successful: false },
        ctx,
      );
      delete state.banks[inactive];
      state.updating = { pid: process.pid, bank: inactive, image: ref, since: new Date().toISOString() };
      state.state = 'updating';
      await writeJson(this.#statePath(member.id), state);
      try {
        await this.#writeBank(member.id, inactive, ref, record, withoutProgress(ctx));
      } catch (error) {
        delete state.updating;
        state.state = 'ready';
        await writeJson(this.#statePath(member.id), state);
        throw error;
      }
      state.banks[inactive] = ref;
      // signpost `upgrade_to_inactive`: the new bank outranks the old one and gets one try.
      await writeGptPrio(
        { path: disk, partition: this.#bootLabel(inactive), priority: 2, tries: 1, successful: false },
        ctx,
      );
      await writeGptPrio({ path: disk, partition: this.#bootLabel(active), priority: 1 }, ctx);
      // `updating` stays set until the boot is recorded: a process that dies here leaves a node that still runs
      // its old bank and boots the new one on its next reboot, as a real machine would.
      state.state = 'rebooting';
      await writeJson(this.#statePath(member.id), state);
      state = await this.#boot(member.id, state, ctx);
      delete state.updating;
      await writeJson(this.#statePath(member.id), state);
      return this.#member(spec, state);
    });
  }

  /** Reboot a node (simulated): the bootloader picks a bank by priority, tries and successful. */
  async reboot(member: FleetMember, ctx: Context = {}): Promise<FleetMember> {
    const spec = this.#node(member.id);
    return this.#exclusive(member.id, async () => {
      const state = await this.#boot(member.id, await this.nodeState(member.id, ctx), ctx);
      await writeJson(this.#statePath(member.id), state);
      return this.#member(spec, state);
    });
  }

  /**
   * Check a node's (simulated) health. Healthy marks the booted bank successful (signpost
   * `mark_successful_boot`). Unhealthy on a bank not yet confirmed reboots, which falls back to the other bank.
   */
  async health(member: FleetMember, ctx: Context = {}): Promise<HealthResult> {
    this.#node(member.id);
    return this.#exclusive(member.id, async () => {
      let state = await this.nodeState(member.id, ctx);
      const checkedAt = new Date().toISOString();
      let result: HealthResult;
      if (state.booted === null) {
        result = { healthy: false, reason: 'no bank could boot', checkedAt };
      } else if (state.updating) {
        result = { healthy: false, reason: 'update in progress', checkedAt };
      } else {
        const disk = this.diskPath(member.id);
        const bank = state.booted;
        if (await this.#unhealthyFlag(member.id)) {
          const prio = await readGptPrio({ path: disk, partition: this.#bootLabel(bank) }, ctx);
          if (prio.successful) {
            state.state = 'unhealthy';
            result = { healthy: false, reason: 'simulated health failure', checkedAt };
          } else {
            state = await this.#boot(member.id, state, ctx);
            result = {
              healthy: false,
              reason: `simulated health failure on bank ${bank.toUpperCase()}; rebooted into ${state.booted ? `bank ${state.booted.toUpperCase()}` : 'nothing'}`,
              checkedAt,
            };
          }
        } else {
          await writeGptPrio({ path: disk, partition: this.#bootLabel(bank), successful: true }, ctx);
          state.state = 'ready';
          result = { healthy: true, checkedAt };
        }
      }
      state.lastHealth = result;
      await writeJson(this.#statePath(member.id), state);
      return result;
    });
  }
}

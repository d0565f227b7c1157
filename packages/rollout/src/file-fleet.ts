import { readFile, writeFile } from 'node:fs/promises';
import {
  type Context,
  DroverError,
  type Fleet,
  type FleetConstraints,
  type FleetMember,
  type HealthResult,
  type ImageRef,
  toDroverError,
  writeAtomically,
} from '@drover/core';
import type { FleetExtensions } from './engine.js';
import { membersOf, type SimFleetDescription } from './plan.js';

interface FileFleetState {
  members: FleetMember[];
  updateMs: number;
  failBoot: string[];
  unhealthy: string[];
  /** The image each member ran when the file was created: faults never apply to going back to it. */
  original: Record<string, string>;
  constraints?: FleetConstraints;
}

/**
 * A fleet kept in a JSON file: each update takes `updateMs` of real time, writes the member's new image and
 * state back to the file, and honours `fail-boot` / `unhealthy` faults from the description. It lets the CLI's
 * start, pause, resume, abort and rollback run for real without machines; real fleets come from provider packages.
 */
export class FileFleet implements Fleet, FleetExtensions {
  readonly id: string;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly path: string) {
    this.id = `file:${path}`;
  }

  /** Open the fleet file, creating it from a description when it does not exist yet. */
  static async open(options: {
    path: string;
    description?: SimFleetDescription;
    updateMs?: number;
  }): Promise<FileFleet> {
    const fleet = new FileFleet(options.path);
    try {
      await readFile(options.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        throw toDroverError(error, 'reading the fleet file');
      if (!options.description) {
        throw new DroverError('FLEET_NOT_FOUND', `no fleet file ${options.path}`, {
          kind: 'not-found',
          hint: 'Pass --fleet with a fleet description to create it.',
        });
      }
      const d = options.description;
      const ids = (sel: { members?: string[]; zone?: string }): string[] =>
        sel.members ??
        membersOf(d)
          .filter((m) => m.zone === sel.zone)
          .map((m) => m.id);
      const state: FileFleetState = {
        members: membersOf(d).map((m) => ({
          id: m.id,
          state: 'ready',
          ...(m.zone ? { zone: m.zone } : {}),
          ...(m.region ? { region: m.region } : {}),
          ...(m.seed !== undefined ? { seed: m.seed } : {}),
          ...(m.image ? { image: m.image } : {}),
        })),
        updateMs: options.updateMs ?? 0,
        failBoot: (d.faults ?? []).flatMap((f) => (f.type === 'fail-boot' ? ids(f) : [])),
        unhealthy: (d.faults ?? []).flatMap((f) => (f.type === 'unhealthy' ? ids(f) : [])),
        original: Object.fromEntries(membersOf(d).map((m) => [m.id, m.image?.digest ?? ''])),
        ...(d.constraints ? { constraints: d.constraints } : {}),
      };
      await writeAtomically(options.path, (tmp) => writeFile(tmp, JSON.stringify(state, null, 2)));
    }
    return fleet;
  }

  async #read(): Promise<FileFleetState> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as FileFleetState;
    } catch (error) {
      throw toDroverError(error, 'reading the fleet file');
    }
  }

  /** Read-modify-write under an in-process queue (one controller drives a fleet file at a time: the lease). */
  #mutate<T>(fn: (s: FileFleetState) => T): Promise<T> {
    const next = this.#queue.then(async () => {
      const s = await this.#read();
      const out = fn(s);
      await writeAtomically(this.path, (tmp) => writeFile(tmp, JSON.stringify(s, null, 2)));
      return out;
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async members(_ctx?: Context): Promise<FleetMember[]> {
    return (await this.#read()).members;
  }

  async member(id: string): Promise<FleetMember | undefined> {
    return (await this.#read()).members.find((m) => m.id === id);
  }

  async health(member: FleetMember): Promise<HealthResult> {
    const m = await this.member(member.id);
    const checkedAt = new Date().toISOString();
    if (!m) return { healthy: false, reason: 'no such member', checkedAt };
    return m.state === 'ready'
      ? { healthy: true, checkedAt }
      : { healthy: false, reason: m.state, checkedAt };
  }

  async constraints(): Promise<FleetConstraints> {
    return (await this.#read()).constraints ?? {};
  }

  async update(member: FleetMember, image: ImageRef): Promise<FleetMember> {
    const { updateMs, before } = await this.#mutate((s) => {
      const m = s.members.find((x) => x.id === member.id);
      if (!m) throw new DroverError('FLEET_NO_MEMBER', `no member ${member.id}`, { kind: 'not-found' });
      const was = m.image;
      m.state = 'updating';
      return { updateMs: s.updateMs, before: was };
    });
    await new Promise((r) => setTimeout(r, updateMs));
    return this.#mutate((s) => {
      const m = s.members.find((x) => x.id === member.id) as FleetMember;
      const forward = before?.digest !== image.digest && s.original[m.id] !== image.digest;
      if (forward && s.failBoot.includes(m.id)) {
        // A/B: the new bank did not boot; the member comes back on the old one by itself.
        if (before) m.image = before;
        m.state = 'ready';
      } else {
        m.image = image;
        m.state =
          forward && s.unhealthy.includes(m.id) && image.digest !== before?.digest ? 'unhealthy' : 'ready';
      }
      return { ...m };
    });
  }
}

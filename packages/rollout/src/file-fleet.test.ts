import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baseSpec, NEW, OLD } from '../test/harness.js';
import { FileFleet, FileStateStore, resumeRollout, startRollout } from './index.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-file-fleet-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('FileFleet', () => {
  it('is created from a description and keeps member images in its file across opens', async () => {
    const path = join(dir, 'fleet.json');
    await expect(FileFleet.open({ path })).rejects.toMatchObject({ code: 'FLEET_NOT_FOUND' });
    const fleet = await FileFleet.open({
      path,
      description: { image: OLD, zones: [{ zone: 'a', members: 3 }] },
    });
    const [m] = await fleet.members();
    expect(m).toMatchObject({ id: 'a-0', zone: 'a', state: 'ready', image: OLD });
    await fleet.update(m as NonNullable<typeof m>, NEW);
    const again = await FileFleet.open({ path });
    expect((await again.member('a-0'))?.image?.digest).toBe(NEW.digest);
    expect(JSON.parse(await readFile(path, 'utf8')).members).toHaveLength(3);
  });

  it('an unhealthy new image halts a real-clock rollout, which rolls back to a healthy old image', async () => {
    const fleet = await FileFleet.open({
      path: join(dir, 'f.json'),
      description: {
        image: OLD,
        zones: [{ zone: 'a', members: 3 }],
        faults: [{ type: 'unhealthy', members: ['a-1'] }],
      },
      updateMs: 5,
    });
    const store = new FileStateStore(dir);
    const spec = baseSpec({
      strategy: { type: 'rolling', maxUnavailable: 1 },
      health: { timeout: '50ms', interval: '10ms' },
    });
    const r = await startRollout({ id: 'ff', spec, fleet, store });
    expect(r.status).toBe('rolled-back');
    const members = await fleet.members();
    expect(members.map((m) => [m.image?.digest, m.state])).toEqual(members.map(() => [OLD.digest, 'ready']));
    // Resuming a finished rollout changes nothing.
    expect((await resumeRollout({ id: 'ff', spec, fleet, store })).actions).toBe(0);
  });
});

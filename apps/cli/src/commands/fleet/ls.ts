import type { FleetMember } from '@drover/core';
import { LocalFleet } from '@drover/provider-local';
import { DroverCommand } from '../../command.js';
import { fleetDirFlag } from './shared.js';

/** What `drover fleet ls --json` prints. */
export interface FleetLsResult {
  id: string;
  dir: string;
  members: FleetMember[];
}

export default class FleetLs extends DroverCommand {
  static override summary = 'List the members of a local fleet: zone, image, booted bank, state';
  static override examples = [
    '<%= config.bin %> fleet ls',
    '<%= config.bin %> fleet ls --dir demo/fleet --json',
  ];
  static override flags = { dir: fleetDirFlag };

  async run(): Promise<FleetLsResult> {
    const { flags } = await this.parse(FleetLs);
    const ctx = this.context();
    const fleet = await LocalFleet.open({ dir: flags.dir });
    const members = await fleet.members(ctx);
    const rows = [
      ['ID', 'REGION', 'ZONE', 'BANK', 'STATE', 'IMAGE'],
      ...members.map((m) => [
        m.id,
        m.region ?? '-',
        m.zone ?? '-',
        (m.labels?.bank ?? '-').toUpperCase(),
        m.state,
        m.image ? `${m.image.version ?? ''} ${m.image.digest.slice(0, 19)}`.trim() : '-',
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
    for (const r of rows)
      this.log(
        r
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      );
    return { id: fleet.id, dir: fleet.dir, members };
  }
}

import { DroverError } from '@drover/core';
import { Flags } from '@oclif/core';
import { DroverCommand } from '../command.js';
import { type DoctorReport, OPTIONAL_TOOLS, runDoctor } from '../doctor/probe.js';

export default class Doctor extends DroverCommand {
  static override summary = 'Check this machine: Node version and the optional external tools drover can use';
  static override description =
    'Reports the Node.js version and, for each optional tool (veritysetup, mkfs.erofs, mksquashfs, mke2fs, sgdisk, ' +
    'skopeo, qemu-system-x86_64), whether it is on PATH, its version, its Debian package and what it enables. ' +
    'Missing optional tools are not an error unless named with --require.';
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --json',
    '<%= config.bin %> doctor --require mksquashfs --require mke2fs',
  ];
  static override flags = {
    require: Flags.string({
      summary: 'Fail (exit 69) unless this tool is present. Repeatable.',
      multiple: true,
      options: OPTIONAL_TOOLS.map((t) => t.id),
    }),
  };

  async run(): Promise<DoctorReport> {
    const { flags } = await this.parse(Doctor);
    const report = await runDoctor();
    const s = this.style;
    this.log(
      `node ${report.node.version} ${report.node.ok ? s.green('ok') : s.red(`needs ${report.node.required}`)}`,
    );
    this.log(`platform ${report.platform.os}/${report.platform.arch}`);
    this.log('');
    const width = Math.max(...report.tools.map((t) => t.id.length));
    for (const tool of report.tools) {
      const status = tool.found
        ? s.green(`found ${tool.version ?? '(version unknown)'}`)
        : s.yellow('missing');
      const where = tool.found ? s.dim(` ${tool.path}`) : s.dim(` (apt-get install ${tool.package})`);
      this.log(`${tool.id.padEnd(width)}  ${status}${where}`);
      this.log(`${' '.repeat(width)}  ${s.dim(`enables: ${tool.enables}`)}`);
    }
    if (!report.node.ok) {
      throw new DroverError(
        'NODE_TOO_OLD',
        `Node ${report.node.version} is too old; drover needs ${report.node.required}`,
        {
          kind: 'unavailable',
          hint: 'Install Node.js 20.19 or newer (e.g. from nodejs.org or your distribution).',
          details: { ...report },
        },
      );
    }
    const missing = (flags.require ?? []).filter((id) => !report.tools.find((t) => t.id === id)?.found);
    if (missing.length > 0) {
      const packages = missing.map((id) => report.tools.find((t) => t.id === id)?.package ?? id);
      throw new DroverError(
        'TOOL_MISSING',
        `required tool${missing.length > 1 ? 's' : ''} not found: ${missing.join(', ')}`,
        {
          kind: 'unavailable',
          hint: `Install with: apt-get install -y ${[...new Set(packages)].join(' ')}`,
          details: { missing, tools: report.tools },
        },
      );
    }
    return report;
  }
}

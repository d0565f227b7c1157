import { runCommand } from '@oclif/test';
import { describe, expect, it } from 'vitest';
import { CLI_ROOT, spawnCli } from '../../test/helpers.js';
import { OPTIONAL_TOOLS } from '../doctor/probe.js';

describe('drover doctor (in-process)', () => {
  it('--json prints exactly the report: node, platform and every optional tool', async () => {
    const { stdout, error } = await runCommand(['doctor', '--json'], { root: CLI_ROOT });
    expect(error).toBeUndefined();
    const report = JSON.parse(stdout);
    expect(report.node.version).toBe(process.version);
    expect(report.node.ok).toBe(true);
    expect(report.ok).toBe(true);
    expect(report.tools.map((t: { id: string }) => t.id)).toEqual(OPTIONAL_TOOLS.map((t) => t.id));
    for (const tool of report.tools) {
      expect(typeof tool.found).toBe('boolean');
      expect(tool.package).toMatch(/^[a-z0-9.+-]+$/);
      if (tool.found) expect(tool.path).toMatch(new RegExp(`/${tool.command.replace('.', '\\.')}$`));
    }
  });

  it('finds veritysetup with its version (installed by .ci/run)', async () => {
    const { stdout } = await runCommand(['doctor', '--json'], { root: CLI_ROOT });
    const verity = JSON.parse(stdout).tools.find((t: { id: string }) => t.id === 'veritysetup');
    expect(verity.found).toBe(true);
    expect(verity.version).toMatch(/^2\.\d+/);
  });

  it('prints one human line per tool with what it enables', async () => {
    const { stdout } = await runCommand(['doctor'], { root: CLI_ROOT });
    for (const tool of OPTIONAL_TOOLS) {
      expect(stdout).toContain(tool.id);
      expect(stdout).toContain(`enables: ${tool.enables}`);
    }
    expect(stdout).toMatch(/^node v\d+\.\d+\.\d+ ok$/m);
  });

  it('rejects an unknown flag with exit 2, a hint and no stack trace', async () => {
    const { error, stderr } = await runCommand(['doctor', '--bogus'], { root: CLI_ROOT });
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toContain('Nonexistent flag: --bogus');
    expect(stderr).toContain('hint: Run `drover doctor --help`');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('rejects an unknown --require value as a usage error', async () => {
    const { error, stderr } = await runCommand(['doctor', '--require', 'nope'], { root: CLI_ROOT });
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toMatch(/Expected --require=nope to be one of/);
  });
});

describe('drover binary (spawned)', () => {
  it('--version prints the CLI version', () => {
    const r = spawnCli(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^@drover\/cli\/\d+\.\d+\.\d+ /);
  });

  it('--help lists the doctor command', () => {
    const r = spawnCli(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/COMMANDS[\s\S]*doctor/);
  });

  it('doctor --json prints valid JSON on stdout and nothing on stderr', () => {
    const r = spawnCli(['doctor', '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).tools).toHaveLength(OPTIONAL_TOOLS.length);
    expect(r.stderr).toBe('');
  });

  it('an unknown command exits 2 with a did-you-mean hint and no stack', () => {
    const r = spawnCli(['doctr']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'drover: unknown command "doctr" [UNKNOWN_COMMAND]\nhint: Did you mean `drover doctor`? Run `drover --help` for all commands.\n',
    );
  });

  it('an unknown command with --json prints the error as JSON', () => {
    const r = spawnCli(['nothing-like-it', '--json']);
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'UNKNOWN_COMMAND', kind: 'usage' });
  });

  it('--require of a missing tool exits 69 naming the Debian package', () => {
    // skopeo lives in /usr/bin, which this PATH leaves out (only the sbin fallbacks are searched).
    const r = spawnCli(['doctor', '--require', 'skopeo'], { PATH: '/nonexistent' });
    expect(r.status).toBe(69);
    expect(r.stderr).toContain('drover: required tool not found: skopeo [TOOL_MISSING]');
    expect(r.stderr).toContain('hint: Install with: apt-get install -y skopeo');
  });

  it('DEBUG=1 adds the stack trace that is otherwise hidden', () => {
    const r = spawnCli(['doctor', '--require', 'skopeo'], { PATH: '/nonexistent', DEBUG: '1' });
    expect(r.status).toBe(69);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});

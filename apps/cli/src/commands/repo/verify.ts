import { type VerifyRepositoryResult, verifyRepository } from '@drover/sign';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';

export default class RepoVerify extends DroverCommand {
  static override summary = 'Walk a TUF repository as a client would (tuf-js) and check every target';
  static override description =
    'SOURCE is a base URL serving metadata/ and targets/, or a local repository directory (served on 127.0.0.1 ' +
    'for the walk). Starting from the trusted root, the client follows root rotations and rejects expired ' +
    'metadata, rollbacks (with --cache) and targets whose length or hash differ from the signed ones.';
  static override examples = [
    '<%= config.bin %> repo verify https://updates.example.com --root 1.root.json --cache ~/.cache/drover-tuf',
    '<%= config.bin %> repo verify repo --root repo/metadata/1.root.json',
  ];
  static override args = {
    source: Args.string({ required: true, description: 'Repository URL or directory' }),
  };
  static override flags = {
    root: Flags.string({ summary: 'Trusted root.json (what clients ship with).', required: true }),
    cache: Flags.string({ summary: 'Client state directory kept between runs (detects rollbacks).' }),
    target: Flags.string({ summary: 'Only check these targets (repeatable).', multiple: true }),
  };

  async run(): Promise<VerifyRepositoryResult> {
    const { args, flags } = await this.parse(RepoVerify);
    const isUrl = /^https?:\/\//.test(args.source);
    const result = await verifyRepository(
      {
        ...(isUrl ? { url: args.source } : { dir: args.source }),
        trustedRoot: flags.root,
        ...(flags.cache ? { cacheDir: flags.cache } : {}),
        ...(flags.target ? { targets: flags.target } : {}),
      },
      this.context(),
    );
    const r = result.roles;
    this.log(
      `root v${r.root.version}, targets v${r.targets.version}, snapshot v${r.snapshot.version}, timestamp v${r.timestamp.version} (expires ${r.timestamp.expires})`,
    );
    for (const t of result.targets) this.log(`ok  ${t.name}  sha256:${t.sha256}  ${t.length} bytes`);
    return result;
  }
}

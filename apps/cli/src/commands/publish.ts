import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import {
  type ArtifactSource,
  DroverError,
  type ImageRecord,
  type ImageRef,
  toDroverError,
} from '@drover/core';
import { LocalStore } from '@drover/provider-local';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../command.js';
import { storeDirFlag } from './fleet/shared.js';

/** What `drover publish --json` prints. */
export interface PublishResult {
  ref: ImageRef;
  store: string;
  channel?: string;
}

export default class Publish extends DroverCommand {
  static override summary = 'Publish a built image (its record and artifacts) to the local store';
  static override description =
    'Artifacts are found next to the record (their `path`), hashed while copied and refused when they do not ' +
    'match the record. Publishing the same record again gives the same reference. --channel also points a ' +
    'channel at it.';
  static override examples = [
    '<%= config.bin %> publish out/image.json',
    '<%= config.bin %> publish out/image.json --to local --channel canary',
  ];
  static override args = { record: Args.string({ required: true, description: 'The image record (JSON).' }) };
  static override flags = {
    to: Flags.string({ summary: 'Where to publish.', options: ['local'], default: 'local' }),
    store: storeDirFlag,
    channel: Flags.string({ summary: 'Also promote this channel to the published image.' }),
  };

  async run(): Promise<PublishResult> {
    const { args, flags } = await this.parse(Publish);
    const ctx = this.context();
    const recordPath = resolve(args.record);
    let record: ImageRecord;
    try {
      record = JSON.parse(await readFile(recordPath, 'utf8')) as ImageRecord;
    } catch (error) {
      if (error instanceof SyntaxError) {
        throw new DroverError('PUBLISH_BAD_RECORD', `${args.record} is not JSON`, {
          hint: 'Pass the image record written by `drover build`.',
          cause: error,
        });
      }
      throw toDroverError(error, 'reading the image record');
    }
    const base = dirname(recordPath);
    const artifacts: ArtifactSource[] = (record.artifacts ?? []).map((a) => ({
      ...a,
      file: isAbsolute(a.path) ? a.path : join(base, a.path),
    }));
    const store = await LocalStore.open({ dir: flags.store });
    const ref = await store.publish(record, artifacts, ctx);
    this.log(`Published ${record.name} ${record.version} as ${ref.uri}`);
    if (flags.channel) {
      await store.promote(flags.channel, ref, ctx);
      this.log(`Channel ${flags.channel} -> ${ref.uri}`);
    }
    return { ref, store: store.dir, ...(flags.channel ? { channel: flags.channel } : {}) };
  }
}

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
  /** The signature attached with the image (the bundle `drover sign image.json` wrote). */
  signature?: { bundle: string; signedRecord: string };
}

export default class Publish extends DroverCommand {
  static override summary = 'Publish a built image (its record and artifacts) to the local store';
  static override description =
    'Artifacts are found next to the record (their `path`), hashed while copied and refused when they do not ' +
    'match the record. Publishing the same record again gives the same reference. --channel also points a ' +
    'channel at it. The signature `drover sign image.json` wrote (image.json.sigstore.json, or --signature) is ' +
    'attached to the image in the store, where `drover rollout start` verifies it against the policy.';
  static override examples = [
    '<%= config.bin %> publish out/image.json',
    '<%= config.bin %> publish out/image.json --to local --channel canary',
  ];
  static override args = { record: Args.string({ required: true, description: 'The image record (JSON).' }) };
  static override flags = {
    to: Flags.string({ summary: 'Where to publish.', options: ['local'], default: 'local' }),
    store: storeDirFlag,
    channel: Flags.string({ summary: 'Also promote this channel to the published image.' }),
    signature: Flags.string({
      summary:
        'Sigstore bundle over the record file to attach (default RECORD.sigstore.json when it exists).',
    }),
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
    let signature: PublishResult['signature'];
    const bundlePath = flags.signature ?? `${recordPath}.sigstore.json`;
    const bundle = await readBundle(bundlePath, flags.signature !== undefined);
    if (bundle !== undefined) {
      const attached = await store.attachSignature(ref, { signedRecord: recordPath, bundle }, ctx);
      signature = { bundle: bundlePath, signedRecord: attached.signedRecord };
      this.log(`Attached signature ${bundlePath}`);
    } else {
      this.log('No signature attached (sign the record with `drover sign` to roll it out)');
    }
    if (flags.channel) {
      await store.promote(flags.channel, ref, ctx);
      this.log(`Channel ${flags.channel} -> ${ref.uri}`);
    }
    return {
      ref,
      store: store.dir,
      ...(flags.channel ? { channel: flags.channel } : {}),
      ...(signature ? { signature } : {}),
    };
  }
}

/** The bundle at `path` as parsed JSON; undefined when it does not exist and was not asked for. */
async function readBundle(path: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw toDroverError(error, 'reading the signature bundle');
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DroverError('PUBLISH_BAD_SIGNATURE', `${path} is not JSON`, {
      hint: 'Pass the .sigstore.json bundle written by `drover sign`.',
      cause: error,
    });
  }
}

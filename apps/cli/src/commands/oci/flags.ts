import { type Platform, parsePlatform, type RegistryAccess } from '@drover/oci';
import { Flags } from '@oclif/core';

/** Flags every `drover oci` command that talks to a registry shares. */
export const registryFlags = {
  insecure: Flags.boolean({
    summary: 'Use plain HTTP for this registry (opt-in; meant for loopback test registries).',
    default: false,
  }),
  'docker-config': Flags.string({
    summary:
      'Docker config.json to read credentials from (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json).',
  }),
  timeout: Flags.integer({ summary: 'Socket inactivity timeout in seconds.', default: 60, min: 1 }),
  retries: Flags.integer({
    summary: 'Retries on transient failures (429, 5xx, resets).',
    default: 4,
    min: 0,
  }),
};

export const platformFlag = Flags.string({
  summary: 'Platform to pick from a multi-arch index, as os/arch[/variant] (default: this machine).',
});

/** Registry access settings from parsed flags. */
export function registryAccess(flags: {
  insecure: boolean;
  'docker-config'?: string | undefined;
  timeout: number;
  retries: number;
}): RegistryAccess {
  return {
    plainHttp: flags.insecure,
    timeoutMs: flags.timeout * 1000,
    retry: { retries: flags.retries },
    ...(flags['docker-config'] ? { dockerConfigPath: flags['docker-config'] } : {}),
  };
}

/** The parsed --platform, if given. */
export function platformOf(value: string | undefined): Platform | undefined {
  return value ? parsePlatform(value) : undefined;
}

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DroverError, toDroverError } from '@drover/core';

/** Credentials for one registry. `identityToken` is an OAuth2 refresh token (Docker's `<token>` user). */
export type RegistryCredentials =
  | { username: string; password: string }
  | { identityToken: string; username?: string }
  | { registryToken: string };

interface DockerConfig {
  auths?: Record<string, { auth?: string; identitytoken?: string; registrytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** Where Docker's config.json is: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

function keysFor(registry: string): string[] {
  if (registry === 'docker.io' || registry === 'registry-1.docker.io' || registry === 'index.docker.io') {
    return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];
  }
  return [
    registry,
    `https://${registry}`,
    `http://${registry}`,
    `https://${registry}/v1/`,
    `http://${registry}/v1/`,
    `https://${registry}/v2/`,
  ];
}

/** Options for {@link loadDockerCredentials}. */
export interface LoadCredentialsOptions {
  registry: string;
  /** config.json path (default {@link dockerConfigPath}). */
  configPath?: string;
}

/**
 * Credentials for `registry` from Docker's config.json, in Docker's order: `credHelpers[registry]`, then
 * `credsStore`, then `auths`. Returns undefined for anonymous access. Secrets are never logged.
 */
export async function loadDockerCredentials(
  options: LoadCredentialsOptions,
): Promise<RegistryCredentials | undefined> {
  const path = options.configPath ?? dockerConfigPath();
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(path, 'utf8')) as DockerConfig;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (error instanceof SyntaxError) {
      throw new DroverError('DOCKER_CONFIG_INVALID', `${path} is not valid JSON`, {
        hint: 'Fix or remove the Docker config file.',
        cause: error,
      });
    }
    throw toDroverError(error, 'reading Docker config');
  }
  const keys = keysFor(options.registry);
  const helper = keys.map((k) => config.credHelpers?.[k]).find(Boolean);
  if (helper) return runCredentialHelper(helper, options.registry);
  if (config.credsStore) {
    const fromStore = await runCredentialHelper(config.credsStore, options.registry);
    if (fromStore) return fromStore;
  }
  for (const key of keys) {
    const entry = config.auths?.[key];
    if (!entry) continue;
    if (entry.identitytoken) return { identityToken: entry.identitytoken };
    if (entry.registrytoken) return { registryToken: entry.registrytoken };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) {
        throw new DroverError(
          'DOCKER_CONFIG_INVALID',
          `auths["${key}"].auth in ${path} is not base64(user:password)`,
          {
            hint: 'Log in again (docker login) or fix the entry.',
          },
        );
      }
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
  }
  return undefined;
}

/** Run `docker-credential-<helper> get` for a registry host (no scheme on stdin). */
export async function runCredentialHelper(
  helper: string,
  registry: string,
): Promise<RegistryCredentials | undefined> {
  const program = `docker-credential-${helper}`;
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new DroverError('CREDENTIAL_HELPER_MISSING', `credential helper ${program} is not installed`, {
              kind: 'unavailable',
              hint: `Install ${program}, or remove "${helper}" from credHelpers/credsStore in your Docker config.`,
            })
          : toDroverError(error, program),
      );
    });
    child.on('close', (c) => resolve({ code: c, stdout: out }));
    child.stdin.end(registry);
  });
  if (code !== 0) {
    if (/credentials not found/i.test(stdout)) return undefined;
    throw new DroverError(
      'CREDENTIAL_HELPER_FAILED',
      `${program} get failed for ${registry}: ${stdout.trim().slice(0, 200)}`,
      {
        kind: 'denied',
        hint: `Run \`echo ${registry} | ${program} get\` to see what it says, or log in again.`,
      },
    );
  }
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
  } catch (error) {
    throw new DroverError('CREDENTIAL_HELPER_FAILED', `${program} printed something that is not JSON`, {
      kind: 'denied',
      cause: error,
    });
  }
  if (!parsed.Secret) return undefined;
  if (parsed.Username === '<token>') return { identityToken: parsed.Secret };
  return { username: parsed.Username ?? '', password: parsed.Secret };
}

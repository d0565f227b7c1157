import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DroverError } from '@drover/core';

/** Token auth settings for the registry (`auth.token` in its config). */
export interface TokenAuthConfig {
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate(s) whose keys sign the tokens. */
  rootCertificatePem: string;
}

/** Options for {@link startTestRegistry}. */
export interface StartTestRegistryOptions {
  /** Fixed `http.secret`, so upload sessions survive a restart (random by default). */
  secret?: string;
  /** Allow DELETE of manifests and blobs. */
  deleteEnabled?: boolean;
  tokenAuth?: TokenAuthConfig;
  /** Port to listen on (default: a free one). */
  port?: number;
  /** Storage directory to reuse (default: a fresh temp dir, removed by stop()). */
  storageDir?: string;
}

/** A running docker-registry. */
export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  port: number;
  /** Filesystem storage root. */
  storageDir: string;
  /** Stop the registry (and remove its temp dirs unless a storageDir was given). */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Start Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with filesystem storage in a temp dir and
 * no htpasswd; resolves once `/v2/` answers.
 */
export async function startTestRegistry(options: StartTestRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'drover-registry-'));
  const storageDir = options.storageDir ?? join(dir, 'storage');
  const port = options.port ?? (await freePort());
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    `  delete:`,
    `    enabled: ${options.deleteEnabled ? 'true' : 'false'}`,
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(options.secret ? [`  secret: ${options.secret}`] : []),
  ];
  if (options.tokenAuth) {
    const certPath = join(dir, 'token.crt');
    await writeFile(certPath, options.tokenAuth.rootCertificatePem);
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${options.tokenAuth.realm}`,
      `    service: ${options.tokenAuth.service}`,
      `    issuer: ${options.tokenAuth.issuer}`,
      `    rootcertbundle: ${certPath}`,
    );
  }
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, `${lines.join('\n')}\n`);
  let child: ChildProcess;
  try {
    child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    throw missing(error);
  }
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(missing(error)));
    child.once('exit', (code) =>
      reject(
        new DroverError('TEST_REGISTRY_EXITED', `docker-registry exited with ${code}: ${stderr.trim()}`, {
          kind: 'unavailable',
        }),
      ),
    );
  });
  failed.catch(() => {});
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const res = await Promise.race([fetch(`http://127.0.0.1:${port}/v2/`), failed]);
      if (res.status === 200 || res.status === 401) break;
    } catch (error) {
      if ((error as { name?: string }).name === 'DroverError') {
        await stop();
        throw error;
      }
    }
    if (Date.now() > deadline) {
      await stop();
      throw new DroverError(
        'TEST_REGISTRY_TIMEOUT',
        `docker-registry did not answer on port ${port}: ${stderr.trim()}`,
        {
          kind: 'unavailable',
        },
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, port, storageDir, stop };
}

function missing(error: unknown): DroverError {
  return new DroverError('TEST_REGISTRY_MISSING', 'docker-registry is not installed', {
    kind: 'unavailable',
    hint: 'Install the Debian package docker-registry (apt-get install docker-registry).',
    cause: error,
  });
}

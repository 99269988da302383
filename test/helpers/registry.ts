import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';
import { trackProcess } from './leftovers.ts';
import { pollUntil } from './poll-until.ts';

const run = promisify(execFile);

/**
 * Debian's docker-registry (Distribution) on loopback with a throw-away store. The engine
 * talks plain HTTP to registries on 127.0.0.0/8, so no certificate is involved.
 */
export async function startRegistry(): Promise<{ address: string; push: (image: string, as: string) => Promise<string>; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-registry-'));
  const address = `127.0.0.1:${await freePort()}`;
  await writeFile(join(dir, 'config.yml'), ['version: 0.1', 'log: { level: warn }', `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} } }`, `http: { addr: "${address}" }`, ''].join('\n'));
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  trackProcess(child);
  await pollUntil(
    () => {
      if (child.exitCode !== null) throw new Error('docker-registry did not start');
      return fetch(`http://${address}/v2/`).then(
        (res) => res.ok,
        () => false,
      );
    },
    { what: 'docker-registry to answer /v2/', timeoutMs: 20_000 },
  );
  const pushed: string[] = [];
  return {
    address,
    /** Pushes a local image under `<registry>/<as>` and removes the local tag again. */
    push: async (image, as) => {
      const target = `${address}/${as}`;
      await run('docker', ['tag', image, target]);
      await run('docker', ['push', target]);
      await run('docker', ['rmi', target]);
      pushed.push(target);
      return target;
    },
    stop: async () => {
      for (const target of pushed) await run('docker', ['rmi', target]).catch(() => undefined);
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

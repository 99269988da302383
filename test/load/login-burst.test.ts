import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import ssh2 from 'ssh2';
import { byMode } from '../helpers/long-mode.ts';
import { startWorld, type World } from '../helpers/world.ts';

/**
 * A login burst: every client connects and logs in with a password at the same moment, on two
 * cores, with the default 5 s webhook timeout. Each login costs an argon2id check on the auth
 * server and a config call; sent all at once, the last of them used to outwait the timeout in
 * the servers' backlog, and logins were refused (AUTH_BACKEND_ERROR, CONFIG_BACKEND_ERROR).
 * The gateway now queues them and sends a bounded number at a time, so every one completes.
 * The no-op backend keeps Docker out of it: this is about the login path. Short mode 200
 * logins (about a minute on a busy 2-core machine), long mode (`npm run test:long`) 1,000.
 */
const LOGINS = byMode(200, 1_000);

/** One password login and one command; resolves with the exit code, or the client's error text. */
async function loginAndRun(world: World): Promise<number | string> {
  const client = new ssh2.Client();
  // Kept for the client's life: a connection may report more than one error (reset, then closed).
  const failed = new Promise<never>((_, reject) => client.on('error', reject));
  failed.catch(() => undefined);
  try {
    const ready = once(client, 'ready');
    client.connect({ host: '127.0.0.1', port: world.sshPort, username: world.username, password: world.password, readyTimeout: 600_000 });
    await Promise.race([ready, failed]);
    return await new Promise<number>((resolve, reject) =>
      client.exec('exit 7', (error, channel) => {
        if (error) return reject(error);
        let code = -1;
        channel.on('exit', (exitCode: number) => (code = exitCode));
        channel.on('close', () => resolve(code));
        channel.resume();
      }),
    );
  } catch (error) {
    return (error as Error).message;
  } finally {
    client.end();
  }
}

test(`${LOGINS} concurrent password logins all complete, with no webhook timeout or refusal`, { timeout: byMode(300_000, 1_200_000) }, async (t) => {
  const world = await startWorld({
    gatewayEntry: 'bench/lib/noop-gateway.ts',
    logLevel: 'info',
    gateway: {
      // Every client comes from 127.0.0.1 here: the pre-auth and per-user caps would refuse most
      // of the burst before any webhook call (their own tests: test/e2e/pre-auth-flood.test.ts).
      ssh: {
        maxStartups: LOGINS * 2,
        perSourceMaxStartups: LOGINS * 2,
        maxConnectionsPerUser: LOGINS * 2,
        maxContainersPerUser: LOGINS * 2,
        maxConnections: LOGINS * 2,
        loginGraceTime: '10m',
      },
      // The webhooks keep their defaults (5 s timeout, 8 calls at once, 60 s queue bound) except
      // the queue bound in long mode, where 1,000 argon2id checks take minutes on two cores.
      ...(LOGINS > 200 ? { auth: { queueTimeout: '10m', maxQueued: LOGINS }, configserver: { queueTimeout: '10m', maxQueued: LOGINS } } : {}),
    },
  });
  t.after(() => world.stop());

  const results = await Promise.all(Array.from({ length: LOGINS }, () => loginAndRun(world)));

  const failures = results.filter((result) => result !== 7);
  assert.deepEqual([...new Set(failures)], [], `${failures.length} of ${LOGINS} logins failed`);
  const refusals = world.gateway.logs.filter((line) => /_BACKEND_ERROR$|^WEBHOOK_QUEUE_/.test(String(line.code)) || String(line.level) === 'error');
  assert.deepEqual(
    refusals.slice(0, 5).map((line) => line.code),
    [],
    'no webhook timed out, failed or was refused by the queue',
  );
  assert.equal(world.gateway.logs.filter((line) => line.code === 'AUTH_SUCCESSFUL').length, LOGINS);
});

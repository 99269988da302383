import assert from 'node:assert/strict';
import { test } from 'node:test';
import { E2E_SLOW } from '../test/helpers/deadlines.ts';
import { throughClientNodeExec } from './lib/kube-exec.ts';
import { dockerExecMs, mibPerSecond, sshLoginMs, sshOutput, throughDockerExec, throughSsh, type Transfer } from './lib/transfer.ts';
import { startTargets } from './throughput.ts';

const MIB = 48;
const MAX_ROUNDS = 4;
/**
 * Generous: a guard against a regression (a copy too many, a stalled window), not a measurement.
 * Set below the download ratio before the data-path work (about 0.3× sshd), so a loaded machine
 * does not fail it; PORTCULLIS_THROUGHPUT_GUARD_RATIO raises it.
 */
const MIN_RATIO = Number(process.env.PORTCULLIS_THROUGHPUT_GUARD_RATIO ?? 0.2);
const GUARDED: readonly Transfer[] = ['exec stdin', 'exec stdout', 'sftp put'];

/**
 * A short run of the throughput benchmark's transfers as a regression guard on a RATIO, never a
 * time: through Portcullis on Docker and on Kubernetes against Debian's sshd and the backend's
 * floors (`docker exec -i`; on Kubernetes also a direct client-node exec), measured back to back.
 * At this size a login is a large share of each command, so each side's login-only time,
 * measured just before, is set apart. A transfer passes once one round reaches the ratio (best
 * of up to four), so one busy moment of a shared machine does not fail it.
 */
test('bulk transfers through Portcullis on Docker and Kubernetes run at ≥ 0.2× sshd or the backend floor when lower (docker exec, the API server exec), best of 4', E2E_SLOW, async (t) => {
  assert.ok(Number.isFinite(MIN_RATIO) && MIN_RATIO > 0, 'PORTCULLIS_THROUGHPUT_GUARD_RATIO is a positive number');
  // The data path alone: what recording costs is the audit benchmark's to show.
  const targets = await startTargets(MIB * 1024 * 1024, undefined, 'off');
  t.after(() => targets.stop());
  const bytes = targets.files.bytes;
  // A fast path that lost the bytes would pass a ratio: each backend first proves it delivers them all.
  for (const target of targets.backends) assert.equal((await sshOutput(target.endpoint, 'wc -c', targets.files.payload)).trim(), String(bytes), `stdin reaches the program on ${target.backend}`);
  const rate = (transferMs: number, loginMs: number) => mibPerSecond(bytes, Math.max(1, transferMs - loginMs));
  const best = new Map<string, { ratio: number; line: string }>();
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    for (const transfer of GUARDED)
      for (const target of targets.backends) {
        const key = `${transfer} on ${target.backend}`;
        if ((best.get(key)?.ratio ?? 0) >= MIN_RATIO) continue;
        const ours = rate(await throughSsh(transfer, target.endpoint, targets.files), await sshLoginMs(target.endpoint));
        const sshd = rate(await throughSsh(transfer, targets.sshd, targets.files), await sshLoginMs(targets.sshd));
        const execMs = await dockerExecMs(target.container);
        const floor = rate(await throughDockerExec(transfer, target.container, targets.files, target.endpoint.remoteFile), execMs);
        const direct = target.direct;
        const clientNode = direct
          ? rate(await throughClientNodeExec(transfer === 'exec stdout' ? 'download' : 'upload', direct.clients, direct.namespace, direct.pod, direct.container, targets.files), execMs)
          : Number.POSITIVE_INFINITY;
        const baseline = Math.min(sshd, floor, clientNode);
        const which = baseline === sshd ? 'sshd' : baseline === floor ? 'the docker exec floor' : 'the client-node exec floor';
        const ratio = ours / baseline;
        const line = `${key}: ${ours.toFixed(0)} MiB/s, ${ratio.toFixed(2)}× ${which} (sshd ${sshd.toFixed(0)}, docker exec ${floor.toFixed(0)}${direct ? `, client-node ${clientNode.toFixed(0)}` : ''} MiB/s; round ${round + 1})`;
        if (ratio > (best.get(key)?.ratio ?? -1)) best.set(key, { ratio, line });
      }
  }
  const lines = [...best.values()];
  t.diagnostic(lines.map((entry) => entry.line).join('\n'));
  const misses = lines.filter((entry) => entry.ratio < MIN_RATIO).map((entry) => entry.line);
  assert.equal(lines.length, GUARDED.length * targets.backends.length, 'every transfer on every backend was measured');
  assert.deepEqual(misses, [], `below ${MIN_RATIO}× the applicable baseline in every round:\n${misses.join('\n')}`);
});

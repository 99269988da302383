import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBounded, type ProcessResult } from './bounded-process.ts';

/**
 * The kubectl the tests run: `PORTCULLIS_KUBECTL` when set (e.g. to try another version),
 * otherwise `kubectl` on PATH (scripts/bootstrap.sh installs Debian's `kubernetes-client`
 * where there is none).
 */
export function kubectlCommand(): string {
  return process.env.PORTCULLIS_KUBECTL ?? 'kubectl';
}

export type KubectlResult = ProcessResult;

/**
 * Runs kubectl against the cluster `kubeconfig` names, and nothing else: the kubeconfig is
 * passed explicitly (flag and KUBECONFIG), HOME is a fresh directory (no ~/.kube/config, no
 * discovery cache from another run), and the environment is PATH alone, so no proxy, gcloud
 * setting or credential plugin of this machine takes part. A dispatching kubectl (the Google
 * Cloud SDK's) asks that same server for its version and runs its matching kubectl.
 * Bounded: killed after `timeoutMs`.
 */
export async function runKubectl(kubeconfig: string, args: readonly string[], timeoutMs = 120_000): Promise<KubectlResult> {
  const home = await mkdtemp(join(tmpdir(), 'portcullis-kubectl-'));
  try {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig };
    return await runBounded(kubectlCommand(), [`--kubeconfig=${kubeconfig}`, ...args], { env, cwd: home, timeoutMs }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
      throw new Error(`cannot run ${kubectlCommand()} (bash scripts/bootstrap.sh installs it): ${error.message}`);
    });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

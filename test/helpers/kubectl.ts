import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The kubectl the tests run: `PORTCULLIS_KUBECTL` when set (e.g. to try another version),
 * otherwise `kubectl` on PATH (scripts/bootstrap.sh installs Debian's `kubernetes-client`
 * where there is none).
 */
export function kubectlCommand(): string {
  return process.env.PORTCULLIS_KUBECTL ?? 'kubectl';
}

export interface KubectlResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

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
    return await new Promise<KubectlResult>((resolve, reject) => {
      const child = spawn(kubectlCommand(), [`--kubeconfig=${kubeconfig}`, ...args], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig },
        cwd: home,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`kubectl ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${kubectlCommand()} (bash scripts/bootstrap.sh installs it): ${error.message}`));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { opensshInvocation } from './ssh-client.ts';
import type { World } from './world.ts';

export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `sftp` or `scp` (OpenSSH's, sharing ssh's options and password prompt) against the
 * gateway, to completion within a deadline. `args` come after the connection options;
 * `remote(path)` names a path on the gateway in scp's syntax.
 */
export async function runOpensshTool(
  world: World,
  tool: 'sftp' | 'scp',
  args: string[],
  options: { readonly stdin?: string; readonly timeoutMs?: number } = {},
): Promise<ToolResult> {
  const { args: sshArgs, env, dir } = await opensshInvocation({ port: world.sshPort, username: world.username, password: world.password });
  // The connection options ssh got, minus its -T/-p/target tail.
  const common = sshArgs.slice(0, sshArgs.indexOf('-T'));
  try {
    return await new Promise<ToolResult>((resolve, reject) => {
      const child = spawn(tool, [...common, '-P', String(world.sshPort), ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${tool} did not finish within ${options.timeoutMs ?? 180_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, options.timeoutMs ?? 180_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.stdin ?? '');
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `user@127.0.0.1:path` for scp. */
export function remotePath(world: World, path: string): string {
  return `${world.username}@127.0.0.1:${path}`;
}

import { rm } from 'node:fs/promises';
import { runBounded, type ProcessResult } from './bounded-process.ts';
import { opensshInvocation } from './ssh-client.ts';
import type { World } from './world.ts';

export type ToolResult = ProcessResult;

/**
 * Runs `sftp` or `scp` (OpenSSH's, sharing ssh's options and password prompt) against the
 * gateway, to completion within a deadline. `args` come after the connection options;
 * `remote(path)` names a path on the gateway in scp's syntax.
 */
export async function runOpensshTool(world: World, tool: 'sftp' | 'scp', args: string[], options: { readonly stdin?: string; readonly timeoutMs?: number } = {}): Promise<ToolResult> {
  const { args: sshArgs, env, dir } = await opensshInvocation({ port: world.sshPort, username: world.username, password: world.password });
  // The connection options ssh got, minus its -T/-p/target tail.
  const common = sshArgs.slice(0, sshArgs.indexOf('-T'));
  try {
    return await runBounded(tool, [...common, '-P', String(world.sshPort), ...args], { env, stdin: options.stdin ?? '', timeoutMs: options.timeoutMs ?? 180_000 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `user@127.0.0.1:path` for scp. */
export function remotePath(world: World, path: string): string {
  return `${world.username}@127.0.0.1:${path}`;
}

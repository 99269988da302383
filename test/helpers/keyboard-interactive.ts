import { spawn } from 'node:child_process';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { opensshInvocation, type SshOptions, type SshResult } from './ssh-client.ts';
import { trackProcess } from './leftovers.ts';

export interface KeyboardInteractiveResult extends SshResult {
  /** Every prompt OpenSSH showed, in order, without the `(user@host) ` OpenSSH puts before it. */
  readonly prompts: string[];
}

/**
 * Runs the real OpenSSH client with keyboard-interactive only. Each prompt goes to SSH_ASKPASS,
 * which answers with the next entry of `answers` in order (as a person typing them would) and
 * records the prompt; when the answers run out it answers an empty line.
 */
export async function runSshKeyboardInteractive(options: Omit<SshOptions, 'password' | 'identityFile'> & { readonly answers: readonly string[] }): Promise<KeyboardInteractiveResult> {
  const { args, env, dir } = await opensshInvocation(options);
  try {
    const prompts = join(dir, 'prompts.log');
    const answers = join(dir, 'answers');
    await writeFile(prompts, '');
    await writeFile(answers, options.answers.map((answer) => `${answer}\n`).join(''), { mode: 0o600 });
    const askpass = join(dir, 'askpass-kbd.sh');
    await writeFile(askpass, `#!/bin/sh\nprintf '%s\\n' "$1" | tr '\\n' ' ' >> '${prompts}'\nprintf '\\n' >> '${prompts}'\nn=$(wc -l < '${prompts}')\nsed -n "\${n}p" '${answers}'\n`);
    await chmod(askpass, 0o700);
    // One attempt (NumberOfPasswordPrompts=1 stays), keyboard-interactive only.
    const kbdArgs = ['-o', 'KbdInteractiveAuthentication=yes', ...args.map((arg) => (arg === 'PreferredAuthentications=password' ? 'PreferredAuthentications=keyboard-interactive' : arg))];
    const result = await new Promise<SshResult>((resolve, reject) => {
      const child = spawn('ssh', kbdArgs, { env: { ...env, SSH_ASKPASS: askpass }, stdio: ['pipe', 'pipe', 'pipe'] });
      trackProcess(child);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const timeoutMs = options.timeoutMs ?? 60_000;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`ssh did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, timeoutMs);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
      child.stdin.end(options.stdin ?? '');
    });
    const seen = (await readFile(prompts, 'utf8'))
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => line.replace(/^\(\S+@\S+\) /, '').trim());
    return { ...result, prompts: seen };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

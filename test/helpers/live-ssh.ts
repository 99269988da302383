import { spawn } from 'node:child_process';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { opensshInvocation, type SshOptions, type SshResult } from './ssh-client.ts';
import { trackProcess } from './leftovers.ts';

export interface LiveSsh {
  /** Resolves with the first match of `pattern` in what ssh printed on stderr so far or later. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Types `text` at the next keyboard-interactive prompt (the prompt waits for it, bounded). */
  answerNextPrompt(text: string): Promise<void>;
  /** ssh's end: exit code, output. */
  readonly done: Promise<SshResult>;
}

/**
 * The real OpenSSH client with keyboard-interactive only, watched while it runs: the test reads
 * what it shows (a URL and a code) and answers prompts when it knows the answer, as a person at
 * the terminal would. Prompts go through SSH_ASKPASS, which waits up to two minutes for the answer.
 */
export async function startLiveSsh(options: Omit<SshOptions, 'password' | 'identityFile'>): Promise<LiveSsh> {
  const { args, env, dir } = await opensshInvocation(options);
  const askpass = join(dir, 'askpass-live.sh');
  // Prompt N waits for file answer-N; 1200 × 0.1 s bounds the wait.
  await writeFile(
    askpass,
    `#!/bin/sh\nn=$(ls '${dir}' | grep -c '^prompt-')\nn=$((n+1))\nprintf '%s' "$1" > '${dir}'/prompt-$n\ni=0\nwhile [ ! -f '${dir}'/answer-$n ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\ncat '${dir}'/answer-$n 2>/dev/null\n`,
  );
  await chmod(askpass, 0o700);
  const kbdArgs = ['-o', 'KbdInteractiveAuthentication=yes', ...args.map((arg) => (arg === 'PreferredAuthentications=password' ? 'PreferredAuthentications=keyboard-interactive' : arg))];
  const child = spawn('ssh', kbdArgs, { env: { ...env, SSH_ASKPASS: askpass }, stdio: ['pipe', 'pipe', 'pipe'] });
  trackProcess(child);
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    for (const watcher of watchers) watcher();
  });
  child.stdin.end(options.stdin ?? '');
  const timeoutMs = options.timeoutMs ?? 180_000;
  const done = new Promise<SshResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ssh did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      for (const watcher of watchers) watcher();
      resolve({ code, signal, stdout, stderr });
    });
  }).finally(() => rm(dir, { recursive: true, force: true }));
  let answered = 0;
  return {
    done,
    waitForStderr: (pattern, waitMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stderr);
          if (match) return finish(() => resolve(match));
          if (child.exitCode !== null || child.signalCode !== null) finish(() => reject(new Error(`ssh ended before showing ${pattern}: ${stderr}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`ssh did not show ${pattern} within ${waitMs} ms: ${stderr}`))), waitMs);
        const finish = (then: () => void) => {
          clearTimeout(timer);
          watchers.delete(check);
          then();
        };
        watchers.add(check);
        check();
      }),
    answerNextPrompt: async (text) => {
      answered += 1;
      await writeFile(join(dir, `answer-${answered}`), `${text}\n`, { mode: 0o600 });
    },
  };
}

import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { opensshInvocation } from './ssh-client.ts';
import { pollUntil } from './poll-until.ts';

const run = promisify(execFile);

/**
 * A real terminal for a real ssh client: tmux runs the command in a detached session the
 * test can type into, resize and read, as a person at a terminal would.
 */
export async function startTerminal(name: string, command: string[], env: Record<string, string>, size = { cols: 100, rows: 30 }) {
  const envArgs = Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  await run('tmux', ['new-session', '-d', '-s', name, '-x', String(size.cols), '-y', String(size.rows), ...envArgs, command.map(shellQuote).join(' ')]);
  // Without this the pane follows the size of a client that is not there.
  await run('tmux', ['set-option', '-t', name, 'status', 'off']);
  await run('tmux', ['set-window-option', '-t', name, 'window-size', 'manual']);

  const screen = async () => (await run('tmux', ['capture-pane', '-p', '-t', name])).stdout;
  const terminal = {
    type: (keys: string) => run('tmux', ['send-keys', '-t', name, '-l', keys]).then(() => run('tmux', ['send-keys', '-t', name, 'Enter'])),
    /** Presses one key as tmux names it (e.g. `C-c`), unlike `type` which sends literal text. */
    press: (key: string) => run('tmux', ['send-keys', '-t', name, key]),
    resize: (cols: number, rows: number) => run('tmux', ['resize-window', '-t', name, '-x', String(cols), '-y', String(rows)]),
    screen,
    /** Polls the screen until `pattern` shows, or fails with what the screen held. */
    waitFor: async (pattern: RegExp, deadlineMs = 30_000) => {
      return pollUntil(screen, { what: `the screen to match ${pattern}`, until: (text) => pattern.test(text), timeoutMs: deadlineMs });
    },
    kill: () => run('tmux', ['kill-session', '-t', name]).catch(() => undefined),
  };
  return { ...terminal, waitForSize: (rows: number, cols: number) => waitForSize(terminal, rows, cols) };
}

type Terminal = {
  type(keys: string): Promise<unknown>;
  waitFor(pattern: RegExp, deadlineMs?: number): Promise<string>;
};

/**
 * Asks the shell for its size until it shows `rows cols`. A resize travels window-change →
 * gateway → backend → the tty beside (not in order with) the typed input, as it does through
 * sshd: a shell asked at once may still see the old size. Bounded: 10 asks, 3 s each.
 */
async function waitForSize(terminal: Terminal, rows: number, cols: number): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    await terminal.type('stty size');
    try {
      return await terminal.waitFor(new RegExp(`^${rows} ${cols}\\s*$`, 'm'), 3_000);
    } catch (error) {
      if (attempt >= 10) throw error;
    }
  }
}

/**
 * OpenSSH with a terminal, logged in to the gateway by password (through an askpass helper, as
 * the tests' ssh always is); killed and its files removed after the test.
 */
export async function sshTerminal(t: TestContext, name: string, target: { readonly sshPort: number; readonly username: string; readonly password: string }) {
  const { args, env, dir } = await opensshInvocation({ port: target.sshPort, username: target.username, password: target.password, tty: true });
  const terminal = await startTerminal(name, ['ssh', ...args], {
    SSH_ASKPASS: env.SSH_ASKPASS!,
    SSH_ASKPASS_REQUIRE: 'force',
    DISPLAY: ':0',
    PORTCULLIS_TEST_PASSWORD: target.password,
  });
  t.after(async () => {
    await terminal.kill();
    await rm(dir, { recursive: true, force: true });
  });
  return terminal;
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

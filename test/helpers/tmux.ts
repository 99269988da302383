import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A real terminal for a real ssh client: tmux runs the command in a detached session the
 * test can type into, resize and read, as a person at a terminal would.
 */
export async function startTerminal(name: string, command: string[], env: Record<string, string>, size = { cols: 100, rows: 30 }) {
  const envArgs = Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  await run('tmux', [
    'new-session', '-d', '-s', name, '-x', String(size.cols), '-y', String(size.rows), ...envArgs,
    command.map(shellQuote).join(' '),
  ]);
  // Without this the pane follows the size of a client that is not there.
  await run('tmux', ['set-option', '-t', name, 'status', 'off']);
  await run('tmux', ['set-window-option', '-t', name, 'window-size', 'manual']);

  const screen = async () => (await run('tmux', ['capture-pane', '-p', '-t', name])).stdout;
  return {
    type: (keys: string) => run('tmux', ['send-keys', '-t', name, '-l', keys]).then(() => run('tmux', ['send-keys', '-t', name, 'Enter'])),
    resize: (cols: number, rows: number) => run('tmux', ['resize-window', '-t', name, '-x', String(cols), '-y', String(rows)]),
    screen,
    /** Polls the screen until `pattern` shows, or fails with what the screen held. */
    waitFor: async (pattern: RegExp, deadlineMs = 30_000) => {
      const end = Date.now() + deadlineMs;
      for (;;) {
        const text = await screen();
        if (pattern.test(text)) return text;
        if (Date.now() > end) throw new Error(`screen never matched ${pattern}:\n${text}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    kill: () => run('tmux', ['kill-session', '-t', name]).catch(() => undefined),
  };
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

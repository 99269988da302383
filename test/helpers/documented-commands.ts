import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where operators read `portcullis` commands: the README, and the compose file's and gateway.yaml's comments. */
const SOURCES = ['README.md', 'docker-compose.yml', 'deploy/compose/gateway.yaml'];

/**
 * Every documented `docker compose … portcullis …` command, in document order, once each. In the
 * YAML comments a remark may follow the command after three or more spaces; it is not part of it.
 */
export async function documentedCommands(root: string): Promise<string[]> {
  const commands: string[] = [];
  for (const source of SOURCES) {
    for (const raw of (await readFile(join(root, source), 'utf8')).split('\n')) {
      const line = raw
        .replace(/^\s*#?\s*/, '')
        .split(/\s{3,}/)[0]!
        .trim();
      if (/^(echo .+\| )?docker compose \S.*\bportcullis\b/.test(line) && !commands.includes(line)) commands.push(line);
    }
  }
  return commands;
}

/**
 * Runs a documented command as pasted into a terminal (a pty from util-linux `script`, so
 * `docker compose exec` gets the TTY it allocates by default), with `docker compose` meaning
 * Debian's docker-compose v1 on the test's project. Resolves with the exit code and the output.
 */
export function runPasted(command: string, options: { cwd: string; env: NodeJS.ProcessEnv; project: string; root: string }): Promise<{ code: number; output: string }> {
  const compose = `docker-compose -p ${options.project} -f ${join(options.root, 'docker-compose.yml')} --project-directory ${options.root}`;
  const line = command.replaceAll('docker compose', compose);
  return new Promise((resolve) => {
    execFile(
      'script',
      ['-q', '-e', '-c', line, '/dev/null'],
      { cwd: options.cwd, env: { ...options.env, SHELL: '/bin/sh' }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

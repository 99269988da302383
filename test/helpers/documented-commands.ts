import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** Folders that hold no operator documentation (dependencies, build output, test fixtures). */
const SKIPPED = new Set(['node_modules', 'dist', '.git', 'test', 'bench']);

/**
 * Where operators read commands: every Markdown and YAML file of the repository (READMEs,
 * docker-compose.yml and its comments, deploy/compose/*.yaml), relative to `root`, sorted with
 * README.md first so that the commands keep the order a reader meets them in.
 */
export async function documentSources(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 6) return;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && !SKIPPED.has(entry.name) && !entry.name.startsWith('.')) await walk(join(dir, entry.name), depth + 1);
      else if (entry.isFile() && /\.(md|ya?ml)$/.test(entry.name)) found.push(relative(root, join(dir, entry.name)));
    }
  };
  await walk(root, 0);
  const rank = (path: string) => (path === 'README.md' ? 0 : path === 'docker-compose.yml' ? 1 : 2);
  return found.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** A command an operator pastes: `docker compose … portcullis …`, optionally fed by `echo … |`. */
const COMMAND = /^(echo .+\| )?docker compose \S.*\bportcullis\b/;

/**
 * Every documented `docker compose … portcullis …` command, in document order, once each: a line
 * of a code block or a YAML comment, or an inline code span. In YAML comments a remark may follow
 * the command after three or more spaces; it is not part of it. A span with `…` is a form
 * (`docker compose exec authserver portcullis users …`), not a command, and is left out.
 */
export async function documentedCommands(root: string): Promise<string[]> {
  const commands: string[] = [];
  for (const source of await documentSources(root)) {
    for (const raw of (await readFile(join(root, source), 'utf8')).split('\n')) {
      const line = raw
        .replace(/^\s*#?\s*/, '')
        .split(/\s{3,}/)[0]!
        .trim();
      const spans = [...raw.matchAll(/`([^`]+)`/g)].map((match) => match[1]!.trim());
      for (const candidate of [line, ...spans]) {
        if (COMMAND.test(candidate) && !candidate.includes('…') && !commands.includes(candidate)) commands.push(candidate);
      }
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

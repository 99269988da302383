/**
 * `portcullis`: one command for every operator task, in the image and in a checkout
 * (`cli/portcullis …`). Each group is its program's own CLI, run as a whole:
 *   audit  → gateway/src/audit/tools/cli/main.ts      users → authserver/src/users-admin/main.ts
 *   policy → configserver/src/cli/main.ts       pki   → pki/src/main.ts
 * Run as root (the gateway container starts as root to read the Docker socket's group), it first
 * becomes the runtime user, who owns the recordings and the users file.
 * Compiled (cli/dist/portcullis.js, `npm run build`, the image) it runs each program's dist/ build;
 * from source (tsx) each program's src/.
 */
import { fileURLToPath } from 'node:url';

const PROGRAMS = {
  audit: 'gateway/src/audit/tools/cli/main.ts',
  users: 'authserver/src/users-admin/main.ts',
  policy: 'configserver/src/cli/main.ts',
  pki: 'pki/src/main.ts',
} as const;
type Group = keyof typeof PROGRAMS;

const COMPILED = import.meta.url.endsWith('.js');
const REPO_ROOT = new URL(COMPILED ? '../../' : '../', import.meta.url);

/** The file that runs a group: its source, or the same path in dist/ when this file is compiled. */
function programFile(group: Group): string {
  const source = PROGRAMS[group];
  const path = COMPILED ? source.replace('/src/', '/dist/').replace(/\.ts$/, '.js') : source;
  return fileURLToPath(new URL(path, REPO_ROOT));
}

const USAGE = `usage: portcullis <group> <command> [options]     (portcullis <group> --help for more)
  audit  list|play|decode|verify   session recordings (gateway)
  users  add|passwd|add-key|remove-key|remove|list   the users file (authserver)
  policy lint|test|explain|check|render   the policy folder (configserver)
  pki    init|auditor|player       certificates of the project's CA
`;

/**
 * `uid:gid` to become when started as root; the image sets it (PORTCULLIS_RUN_AS=10001:10001), so
 * `docker compose exec gateway portcullis …` (root, no DAC_OVERRIDE) reads the recordings as their owner.
 */
function dropRoot(): void {
  const runAs = process.env.PORTCULLIS_RUN_AS;
  if (process.getuid?.() !== 0 || !runAs) return;
  const match = /^(\d{1,9}):(\d{1,9})$/.exec(runAs);
  if (!match) {
    process.stderr.write(`portcullis: PORTCULLIS_RUN_AS must be "uid:gid", not "${runAs}"\n`);
    process.exit(2);
  }
  const [uid, gid] = [Number(match[1]), Number(match[2])];
  try {
    process.setgroups?.([gid]);
    process.setgid?.(gid);
    process.setuid?.(uid);
  } catch (err) {
    process.stderr.write(`portcullis: running as root and cannot become user ${uid} (${(err as Error).message}); run it as that user (docker compose exec --user ${uid} …)\n`);
    process.exit(1);
  }
}

/** Arguments a group gets from the environment when the operator leaves them out. */
function withDefaults(group: Group, args: string[]): string[] {
  const policyDir = process.env.PORTCULLIS_POLICY_DIR;
  if (group === 'policy' && policyDir && !args.some((arg) => arg === '--dir' || arg.startsWith('--dir='))) return [...args, '--dir', policyDir];
  return args;
}

async function main(argv: string[]): Promise<void> {
  const [group, ...args] = argv;
  if (group === undefined || group === '--help' || group === '-h' || group === 'help') {
    process.stdout.write(USAGE);
    process.exitCode = group === undefined ? 2 : 0;
    return;
  }
  if (!(group in PROGRAMS)) {
    process.stderr.write(`portcullis: unknown group "${group}"\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  dropRoot();
  const script = programFile(group as Group);
  // Each program reads its arguments from process.argv, as when started on its own.
  process.argv = [process.argv[0]!, script, ...withDefaults(group as Group, args)];
  await import(script);
}

await main(process.argv.slice(2));

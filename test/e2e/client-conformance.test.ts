import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { CONTAINER_BACKENDS, backendWorld, type ContainerBackend } from '../helpers/backend-world.ts';
import type { RunningProgram } from '../helpers/program.ts';
import { clientKit, runClient, startClient, type ClientCommand, type ClientKit, type ExecClient, type FileClient } from '../helpers/ssh-clients.ts';
import { startTerminal } from '../helpers/tmux.ts';

/**
 * Issue 19: the SSH clients people use, as real processes, against the gateway on both backends.
 * Each client gets the same checks; a check a client cannot do is reported n/a with the reason.
 * One world per backend (a persistent container, so that a later session can look for what an
 * earlier one left running); the checks run one after another, some reading one shared client run.
 * Budget: ~2.5 min for both backends (on the 2-core machine, ~75 s each).
 */
const ROWS = ['ssh', 'ssh -C', 'sftp', 'sftp -C', 'scp', 'scp -C', 'scp -O', 'scp -O -C', 'dbclient', 'plink', 'psftp', 'pscp', 'paramiko'] as const;
type Row = (typeof ROWS)[number];
const CHECKS = [
  'exec',
  'exit status',
  'stderr',
  'pty size at start',
  'pty size after resize',
  '5 MiB stdin round trip',
  '5 MiB file round trip',
  'Ctrl-C',
  'hangup kills remote process',
  'env',
] as const;
type Check = (typeof CHECKS)[number];

const PAYLOAD_BYTES = 5 * 1024 * 1024;
const ENV_NAME = 'PORTCULLIS_CONFORMANCE';
/** The terminal the interactive checks start in, then resize to twice (the last one must win). */
const START = { cols: 100, rows: 30 };
const RESIZES = [
  { cols: 120, rows: 40 },
  { cols: 90, rows: 25 },
];

const FILE_ONLY_ROWS: readonly Row[] = ['sftp', 'sftp -C', 'scp', 'scp -C', 'scp -O', 'scp -O -C', 'psftp', 'pscp'];

/** Why a client cannot do a check: printed in the table instead of a result. */
function notApplicable(row: Row, check: Check): string | undefined {
  if (FILE_ONLY_ROWS.includes(row)) {
    if (check === 'exit status' || check === 'stderr' || check === '5 MiB file round trip') return undefined;
    return `${row.split(' ')[0]} is a file transfer program: it runs no command of the user's`;
  }
  if (check === '5 MiB file round trip') {
    if (row === 'ssh' || row === 'ssh -C') return 'OpenSSH moves files with sftp and scp (their rows)';
    if (row === 'plink') return 'PuTTY moves files with psftp and pscp (their rows)';
  }
  if (check === 'env' && row === 'dbclient') return "Dropbear's client cannot send environment variables (no SendEnv/SetEnv)";
  return undefined;
}

interface Outcome {
  readonly result: 'pass' | 'FAIL' | 'n/a';
  readonly note?: string;
}
const outcomes = new Map<ContainerBackend, Map<Row, Map<Check, Outcome>>>();

interface Context {
  readonly t: TestContext;
  readonly backend: ContainerBackend;
  readonly kit: ClientKit;
  readonly payload: Buffer;
  readonly payloadFile: string;
  readonly payloadHash: string;
  readonly scratch: string;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const slug = (text: string) => text.replace(/[^a-z0-9]+/gi, '-');

for (const backend of CONTAINER_BACKENDS) {
  test(`client conformance: OpenSSH, Dropbear, PuTTY and paramiko through the gateway (${backend})`, { timeout: 600_000 }, async (t) => {
    const session = await backendWorld(t, backend, {
      persistent: { homeMiB: 64, memoryMiB: 256 },
      security: { env: { mode: 'filter', allow: [ENV_NAME] } },
    });
    const { world } = session;
    let gateway: RunningProgram = world.gateway;
    const kit = await clientKit(t, { port: () => gateway.port, username: world.username, password: world.password, hostKeyDir: join(world.dir, 'hostkeys') });
    const scratch = await mkdtemp(join(tmpdir(), 'portcullis-conformance-'));
    t.after(() => rm(scratch, { recursive: true, force: true }));
    const payload = randomBytes(PAYLOAD_BYTES);
    const payloadFile = join(scratch, 'payload');
    await writeFile(payloadFile, payload);
    const context: Context = { t, backend, kit, payload, payloadFile, payloadHash: sha256(payload), scratch };
    const table = new Map<Row, Map<Check, Outcome>>();
    outcomes.set(backend, table);
    // tmux exits with its last session: one idle session keeps the server up between the checks'
    // terminals, so a new terminal never meets a server on its way out.
    const keeper = await startTerminal(`portcullis-conformance-keeper-${process.pid}-${backend}`, ['sleep', '900'], {});
    t.after(() => keeper.kill());

    for (const row of ROWS) {
      const cells = new Map<Check, Outcome>();
      table.set(row, cells);
      for (const check of CHECKS) {
        const reason = notApplicable(row, check);
        if (reason) {
          cells.set(check, { result: 'n/a', note: reason });
          await t.test(`${row} › ${check}`, { skip: `n/a: ${reason}` }, () => undefined);
          continue;
        }
        const gatewayPid = gateway.process.pid;
        await t.test(`${row} › ${check}`, { timeout: 120_000 }, async () => {
          try {
            await CHECK_BODIES[check](context, row);
            assertAlive(gateway, gatewayPid);
            cells.set(check, { result: 'pass' });
          } catch (error) {
            const dead = gateway.process.exitCode !== null || gateway.process.signalCode !== null;
            const note = `${dead ? 'GATEWAY PROCESS EXITED; ' : ''}${oneLine(error)}`;
            cells.set(check, { result: 'FAIL', note });
            if (dead) throw new Error(`${note}\ngateway output (last lines):\n${gateway.output.slice(-15).join('\n')}`, { cause: error });
            throw error;
          }
        });
        if (gateway.process.exitCode !== null || gateway.process.signalCode !== null) {
          // The failure is recorded above; a new gateway lets the other clients still be measured.
          gateway = await world.startAnotherGateway();
        }
      }
    }
    await t.test('session image › ps, pgrep, pkill and kill (procps) work for the session user', { timeout: 60_000 }, async () => {
      // What an interactive user (and the hangup check above) expects of a shell box.
      const seconds = 3_000 + randomInt(5_000);
      const pattern = `^sleep ${seconds}$`;
      const script =
        `sleep ${seconds} & pid=$!; echo "ps [$(ps -o pid= -p $pid | tr -d ' ')] [$pid]"; ` +
        `echo "pgrep [$(pgrep -f '${pattern}')]"; /usr/bin/kill -TERM $pid; wait $pid; echo "status [$?]"; ` +
        `sleep ${seconds} & echo "pkill [$(pkill -c -f '${pattern}')]"; wait; echo "left [$(pgrep -f '${pattern}' || echo none)]"`;
      const result = await execRun(context, 'ssh', script);
      const out = result.stdout.toString();
      const [, psPid, pid] = /^ps \[(\d*)\] \[(\d+)\]$/m.exec(out) ?? [];
      assert.ok(pid && psPid === pid, `ps lists the process by its pid; stdout: ${out} stderr: ${result.stderr}`);
      assert.match(out, new RegExp(`^pgrep \\[${pid}\\]$`, 'm'), 'pgrep finds it by its command line');
      assert.match(out, /^status \[143\]$/m, 'kill ended it with SIGTERM');
      assert.match(out, /^pkill \[1\]$/m, 'pkill signalled the second one');
      assert.match(out, /^left \[none\]$/m, 'none is left');
      assert.equal(result.code, 0);
    });
    const left = await session.sessions();
    assert.ok(left.length <= 1, `only the one persistent container or pod exists after every client: ${left.join(', ')}`);
  });
}

after(() => {
  const lines: string[] = [];
  for (const [backend, table] of outcomes) {
    const notes: string[] = [];
    lines.push('', `Client conformance (${backend})`, '', `| client | ${CHECKS.join(' | ')} |`, `| --- | ${CHECKS.map(() => '---').join(' | ')} |`);
    for (const [row, cells] of table) {
      const shown = CHECKS.map((check) => {
        const outcome = cells.get(check);
        if (!outcome) return 'not run';
        if (!outcome.note) return outcome.result;
        let index = notes.indexOf(outcome.note);
        if (index < 0) index = notes.push(outcome.note) - 1;
        return `${outcome.result} [${index + 1}]`;
      });
      lines.push(`| ${row} | ${shown.join(' | ')} |`);
    }
    lines.push('', ...notes.map((note, index) => `[${index + 1}] ${note}`));
  }
  console.log(lines.join('\n'));
});

/** The gateway's last-resort handlers log these: a fault that escaped its connection. */
const PROCESS_FAULT_CODES = ['GATEWAY_UNCAUGHT_EXCEPTION', 'GATEWAY_UNHANDLED_REJECTION'];

function assertAlive(gateway: RunningProgram, pid: number | undefined): void {
  assert.equal(gateway.process.exitCode, null, 'the gateway process is still running');
  assert.equal(gateway.process.signalCode, null, 'the gateway process was not killed');
  assert.equal(gateway.process.pid, pid);
  const escaped = gateway.logs.filter((line) => PROCESS_FAULT_CODES.includes(String(line.code)));
  assert.deepEqual(escaped, [], 'no fault escaped a connection to the process');
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim().slice(0, 240);
}

/** Runs `client` without a pty and returns what it printed; fails if it hit its deadline. */
async function execRun(context: Context, row: Row, command: string, options: { stdin?: Buffer; env?: Record<string, string>; timeoutMs?: number } = {}) {
  const result = await runClient(context.kit.exec(row as ExecClient, command, options.env ? { env: options.env } : {}), {
    ...(options.stdin ? { stdin: options.stdin } : {}),
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  assert.equal(result.timedOut, false, `${row} did not end within its deadline (stdout ${result.stdout.length} bytes; stderr: ${result.stderr.trim()})`);
  return result;
}

/**
 * One client run that several checks read (each still passes or fails on its own): it keeps the
 * default run short, one connection fewer per shared check.
 */
const sharedRuns = new Map<string, Promise<unknown>>();
function sharedRun<T>(context: Context, row: Row, what: string, run: () => Promise<T>): Promise<T> {
  const key = `${context.backend}/${row}/${what}`;
  if (!sharedRuns.has(key)) sharedRuns.set(key, run());
  return sharedRuns.get(key)! as Promise<T>;
}

/** exec, exit status, stderr and env of an exec client: one program that prints on both streams and exits 3. */
const commandRun = (context: Context, row: Row) =>
  sharedRun(context, row, 'command', () =>
    execRun(context, row, `echo "exec-$((6*7)) $(id -u)"; echo "env [$${ENV_NAME}]"; echo "err-$((6*7))" >&2; exit 3`, {
      ...(notApplicable(row, 'env') ? {} : { env: { [ENV_NAME]: 'value-42' } }),
    }),
  );

/** A missing remote file fetched with a file client: its exit status and its error message. */
const missingFileRun = (context: Context, row: Row) =>
  sharedRun(context, row, 'missing file', async () => {
    const remote = `/home/user/missing-${slug(row)}-${randomInt(1e9)}`;
    return runClient(await context.kit.transfer(row as FileClient, 'get', join(context.scratch, 'never'), remote), { timeoutMs: 30_000 });
  });

/**
 * One terminal session: the program reads its size at its first instruction (as vim or top do at
 * start), waits until the terminal was resized twice (the last size must win), then waits for
 * Ctrl-C, which its trap answers with exit status 42.
 */
const terminalRun = (context: Context, row: Row) =>
  sharedRun(context, row, 'terminal', async () => {
    const last = RESIZES[RESIZES.length - 1]!;
    const program =
      `echo "size-at-start [$(stty size)]"; ` +
      `i=0; while [ "$(stty size)" != "${last.rows} ${last.cols}" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done; echo "size-after-resize [$(stty size)]"; ` +
      `trap 'echo got-sig-int; exit 42' INT; echo ctrl-c-ready; i=0; while [ $i -lt 300 ]; do sleep 1; i=$((i+1)); done; echo not-interrupted`;
    let screen = '';
    await inTerminal(context.kit.exec(row as ExecClient, program, { pty: true }), async (terminal) => {
      await terminal.waitFor(/size-at-start/);
      for (const size of RESIZES) await terminal.resize(size.cols, size.rows);
      await terminal.waitFor(/ctrl-c-ready/, 30_000);
      await terminal.press('C-c');
      screen = (await terminal.waitFor(/\[client-exit \d+\]/, 20_000)).trimEnd();
    });
    return { screen, start: /size-at-start \[([^\]]*)\]/.exec(screen)?.[1], final: /size-after-resize \[([^\]]*)\]/.exec(screen)?.[1] };
  });

/** Runs `client` in a real terminal (tmux) of START's size; its exit status shows on the screen once it ended. */
let terminals = 0;
async function inTerminal(client: ClientCommand, body: (terminal: Awaited<ReturnType<typeof startTerminal>>) => Promise<void>) {
  const name = `portcullis-conformance-${process.pid}-${(terminals += 1)}`;
  // tmux turns its status line off only after the session started: wait (bounded) until the
  // terminal has its final size, so the client starts with it.
  const script = `i=0; while [ "$(stty size)" != "${START.rows} ${START.cols}" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; "$@"; echo "[client-exit $?]"; exec sleep 600`;
  const terminal = await startTerminal(name, ['sh', '-c', script, 'client', client.command, ...client.args], { ...client.env }, START);
  try {
    await body(terminal);
  } finally {
    await terminal.kill();
  }
}

async function fileRoundTrip(context: Context, row: Row): Promise<void> {
  const remote = `/home/user/round-trip-${slug(row)}`;
  const back = join(context.scratch, `back-${slug(row)}`);
  const put = await runClient(await context.kit.transfer(row as FileClient, 'put', context.payloadFile, remote), { timeoutMs: 90_000 });
  assert.equal(put.timedOut, false, `upload did not end within 90 s; stderr: ${put.stderr.trim()}`);
  assert.equal(put.code, 0, `upload failed: ${put.stderr.trim()}`);
  const get = await runClient(await context.kit.transfer(row as FileClient, 'get', back, remote), { timeoutMs: 90_000 });
  assert.equal(get.timedOut, false, `download did not end within 90 s; stderr: ${get.stderr.trim()}`);
  assert.equal(get.code, 0, `download failed: ${get.stderr.trim()}`);
  const copy = await readFile(back);
  assert.equal(copy.length, PAYLOAD_BYTES, 'the downloaded copy has every byte');
  assert.equal(sha256(copy), context.payloadHash, 'the downloaded copy is the uploaded file');
  await rm(back, { force: true });
}

const CHECK_BODIES: Record<Check, (context: Context, row: Row) => Promise<void>> = {
  exec: async (context, row) => {
    const result = await commandRun(context, row);
    assert.equal(result.stdout.toString().split('\n')[0], 'exec-42 1000', `the command ran in the container as its user; stdout: ${result.stdout.toString()} stderr: ${result.stderr}`);
  },

  'exit status': async (context, row) => {
    if (FILE_ONLY_ROWS.includes(row)) {
      const result = await missingFileRun(context, row);
      assert.equal(result.timedOut, false, `did not end; stderr: ${result.stderr}`);
      assert.ok(result.code !== null && result.code !== 0, `a failed transfer exits non-zero (got ${result.code}); stderr: ${result.stderr}`);
      return;
    }
    const result = await commandRun(context, row);
    assert.equal(result.code, 3, `the remote exit status is the client's exit status; stderr: ${result.stderr}`);
  },

  stderr: async (context, row) => {
    if (FILE_ONLY_ROWS.includes(row)) {
      const result = await missingFileRun(context, row);
      // psftp, like PuTTY's psftp.c, prints a batch command's failure on stdout.
      const channel = row === 'psftp' ? result.stdout.toString() : result.stderr;
      assert.match(channel, new RegExp(`missing-${slug(row)}`), `the error names the missing file; stdout: ${result.stdout.toString()} stderr: ${result.stderr}`);
      return;
    }
    const result = await commandRun(context, row);
    assert.match(result.stderr, /err-42/, 'stderr reached the client');
    assert.doesNotMatch(result.stdout.toString(), /err-42/, 'stderr did not leak into stdout');
  },

  'pty size at start': async (context, row) => {
    const run = await terminalRun(context, row);
    assert.equal(run.start, `${START.rows} ${START.cols}`, `the program's first look at its terminal; screen:\n${run.screen}`);
  },

  'pty size after resize': async (context, row) => {
    const last = RESIZES[RESIZES.length - 1]!;
    const run = await terminalRun(context, row);
    assert.equal(run.final, `${last.rows} ${last.cols}`, `the last window change is in force; screen:\n${run.screen}`);
  },

  '5 MiB stdin round trip': async (context, row) => {
    const result = await execRun(context, row, 'cat', { stdin: context.payload, timeoutMs: 90_000 });
    assert.equal(result.stdout.length, PAYLOAD_BYTES, `every byte came back (stderr: ${result.stderr.trim()})`);
    assert.equal(sha256(result.stdout), context.payloadHash, 'the bytes came back unchanged');
    assert.equal(result.code, 0);
  },

  '5 MiB file round trip': fileRoundTrip,

  'Ctrl-C': async (context, row) => {
    const run = await terminalRun(context, row);
    assert.match(run.screen, /got-sig-int/, `the remote program got SIGINT; screen:\n${run.screen}`);
    assert.match(run.screen, /\[client-exit 42\]/, `the program's exit status after Ctrl-C reaches the client; screen:\n${run.screen}`);
  },

  'hangup kills remote process': async (context, row) => {
    // A sleep no other check runs: after the client hangs up, no process of that name may be left.
    const seconds = 3_000 + randomInt(5_000);
    const client = startClient(context.kit.exec(row as ExecClient, `echo hangup-ready; exec sleep ${seconds}`), { holdStdin: true, timeoutMs: 60_000 });
    await client.waitForStdout('hangup-ready');
    client.kill('SIGHUP');
    const killer = setTimeout(() => client.kill('SIGKILL'), 5_000);
    await client.ended;
    clearTimeout(killer);
    const end = Date.now() + 20_000;
    let processes = '';
    for (;;) {
      const listing = await execRun(context, 'ssh', 'ps -eo args');
      processes = listing.stdout.toString();
      assert.match(processes, /ps -eo args/, `the process list was read; stderr: ${listing.stderr}`);
      if (!processes.split('\n').some((line) => line.trim() === `sleep ${seconds}`)) return;
      if (Date.now() > end) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.fail(`sleep ${seconds} still runs 20 s after ${row} hung up:\n${processes}`);
  },

  env: async (context, row) => {
    const result = await commandRun(context, row);
    assert.match(result.stdout.toString(), /^env \[value-42\]$/m, `the variable the client sent is set; stdout: ${result.stdout.toString()}`);
  },
};

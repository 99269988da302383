import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { after } from 'node:test';

/**
 * What a test file started outside its own process (programs, session containers), stopped
 * whatever way the file ends. node:test runs a timed-out test's `after` hooks, but when a file
 * outlives the runner's own deadline its process gets SIGTERM and no hook runs: without this
 * the gateway, the webhook services, an ssh client and their containers outlive the run.
 * And a test that timed out leaves its work running, which keeps the file's process alive
 * until that deadline: once every test of the file has ended, a process still busy after
 * LINGER_MS says what it was waiting for and exits, stopping what it started.
 */
const LINGER_MS = 60_000;
const processes = new Set<ChildProcess>();
const containerLabels = new Set<string>();
const waits = new Set<{ readonly what: string; readonly since: number; last: unknown }>();

/** Kills `child` when the file's process ends, unless it exited first. */
export function trackProcess(child: ChildProcess): void {
  installOnce();
  processes.add(child);
  child.once('exit', () => processes.delete(child));
}

/** Removes the containers carrying `label` (`key=value`) that are still there when the file's process ends. */
export function trackContainers(label: string): void {
  installOnce();
  containerLabels.add(label);
}

/** Records what a test waits for, so that a file ended by its deadline says what it was waiting for. */
export function trackWait(what: string): { seen(value: unknown): void; done(): void } {
  installOnce();
  const wait = { what, since: Date.now(), last: undefined as unknown };
  waits.add(wait);
  return { seen: (value) => (wait.last = value), done: () => waits.delete(wait) };
}

function killProcesses(): void {
  for (const child of processes) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  processes.clear();
}

function removeContainers(): void {
  for (const label of containerLabels) {
    try {
      const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=${label}`], { encoding: 'utf8', timeout: 15_000 })
        .split('\n')
        .filter(Boolean);
      if (ids.length > 0) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore', timeout: 30_000 });
    } catch {
      // the engine is gone or slow: nothing more to do from an exiting process
    }
  }
  containerLabels.clear();
}

function describeWaits(): string {
  const now = Date.now();
  return [...waits].map((wait) => `  still waiting for ${wait.what} (${now - wait.since} ms, last seen: ${JSON.stringify(wait.last)?.slice(0, 500)})`).join('\n');
}

let installed = false;
function installOnce(): void {
  if (installed) return;
  installed = true;
  // Programs first (a gateway killed mid-start would create the container after its removal).
  process.on('exit', () => {
    killProcesses();
    removeContainers();
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      const pending = describeWaits();
      process.stderr.write(`test file ended by ${signal}${pending ? `\n${pending}` : ''}\n`);
      process.exit(1);
    });
  }
}

// Only under the test runner (the benchmarks import these helpers as a plain program).
if (process.env.NODE_TEST_CONTEXT) {
  after(() => {
    setTimeout(() => {
      const pending = describeWaits();
      process.stderr.write(`test file still busy ${LINGER_MS} ms after its last test; stopping what it started${pending ? `\n${pending}` : ''}\n`);
      process.exit(1);
    }, LINGER_MS).unref();
  });
}

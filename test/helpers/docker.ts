import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pollUntil, pollUntilOrLast } from './poll-until.ts';

const run = promisify(execFile);

/** Containers of this gateway's labels, running or not. */
export async function listSessionContainers(instanceId?: string): Promise<string[]> {
  const filter = instanceId ? `label=portcullis.io/instance=${instanceId}` : 'label=app.kubernetes.io/managed-by=portcullis-gateway';
  const { stdout } = await run('docker', ['ps', '-aq', '--filter', filter]);
  return stdout.split('\n').filter(Boolean);
}

/** Polls until the gateway `instanceId` has at least `count` session containers (running or not). */
export async function waitForSessionContainers(instanceId: string, count: number, deadlineMs = 30_000): Promise<void> {
  await pollUntil(() => listSessionContainers(instanceId), { what: `${count} session container(s) of ${instanceId}`, until: (ids) => ids.length >= count, timeoutMs: deadlineMs });
}

/** Polls until no session container of `instanceId` is left, or the deadline passes. */
export async function waitForNoSessionContainers(instanceId: string, deadlineMs = 30_000): Promise<string[]> {
  return pollUntilOrLast(() => listSessionContainers(instanceId), { what: `no session container of ${instanceId} left`, until: (left) => left.length === 0, timeoutMs: deadlineMs, intervalMs: 200 });
}

/** The parts of `docker inspect` the tests read. */
export interface InspectedContainer {
  readonly Config: { readonly User: string; readonly Labels: Record<string, string> };
  readonly HostConfig: {
    readonly ReadonlyRootfs: boolean;
    readonly CapDrop: string[] | null;
    readonly CapAdd: string[] | null;
    readonly Privileged: boolean;
    readonly SecurityOpt: string[] | null;
    readonly PidsLimit: number | null;
    readonly Memory: number;
    readonly NanoCpus: number;
    readonly Tmpfs: Record<string, string> | null;
    readonly NetworkMode: string;
    readonly PidMode: string;
    readonly IpcMode: string;
    readonly UTSMode: string;
    readonly UsernsMode: string;
    readonly CgroupnsMode?: string;
  };
}

export async function inspectContainer(id: string): Promise<InspectedContainer> {
  const { stdout } = await run('docker', ['inspect', id]);
  return (JSON.parse(stdout) as InspectedContainer[])[0]!;
}

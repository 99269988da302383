import { readdir, readFile } from 'node:fs/promises';

/** The first and the highest value a watch read. */
export interface Watched {
  readonly before: number;
  readonly max: number;
}

export interface ResourceWatch {
  /** Stops sampling; undefined where the figure could not be read (no local dockerd in /proc). */
  stop(): Promise<{ dockerdOpenFiles: Watched | undefined; rssBytes: Watched }>;
}

/** The pid of the Docker engine on this machine, or undefined when it runs elsewhere (a remote or rootless engine). */
async function dockerdPid(): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'dockerd') return Number(entry);
  }
  return undefined;
}

async function openFiles(pid: number): Promise<number | undefined> {
  return readdir(`/proc/${pid}/fd`).then(
    (entries) => entries.length,
    () => undefined,
  );
}

async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kib) * 1024;
}

/**
 * Samples, every `intervalMs` until stopped, the open files of the Docker engine and the
 * resident memory of process `pid` (the gateway): what a flood of backend calls would grow.
 * Sampling reads /proc only, so it costs the engine nothing.
 */
export async function watchResources(pid: number, intervalMs = 100): Promise<ResourceWatch> {
  const engine = await dockerdPid();
  const first = { files: engine === undefined ? undefined : await openFiles(engine), rss: await residentBytes(pid) };
  const max = { ...first };
  const sample = async () => {
    const files = engine === undefined ? undefined : await openFiles(engine);
    if (files !== undefined && max.files !== undefined) max.files = Math.max(max.files, files);
    max.rss = Math.max(max.rss, await residentBytes(pid).catch(() => 0));
  };
  let sampling = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(sample);
  }, intervalMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await sampling;
      await sample();
      return {
        dockerdOpenFiles: first.files === undefined || max.files === undefined ? undefined : { before: first.files, max: max.files },
        rssBytes: { before: first.rss, max: max.rss },
      };
    },
  };
}

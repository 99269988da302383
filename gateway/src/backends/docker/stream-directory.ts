import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { MountSettings } from 'dockerode';
import { errorFields, type Logger } from '../../observability/index.ts';

/** Where a container sees its own stream directory, read-only. */
export const CONTAINER_STREAM_PATH = '/run/portcullis/streams';

/**
 * Shells whose `-c` runs `exec "$@" <"$0.in" >"$0.out"` as POSIX sh does. A program under any
 * other shell keeps the engine's attach stream: allow what is known to work.
 */
const POSIX_SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'ksh', 'mksh', 'zsh']);

const runFile = promisify(execFile);

/**
 * The host directory under which every container the gateway creates gets a directory of its
 * own, bind-mounted read-only at CONTAINER_STREAM_PATH. A non-terminal program's stdin and
 * stdout then travel through two FIFOs there, between the gateway and the program, instead of
 * through the engine's attach stream: the engine no longer copies every byte twice (its relay
 * cost 3–5 CPU s per GiB, as much as the SSH leg). The path must be the same for the gateway
 * and the engine: a host path, bind-mounted at the same path when the gateway runs in a container.
 */
export class StreamDirectory {
  constructor(
    readonly root: string,
    private readonly log: Logger,
  ) {}

  /**
   * Creates the directory of the container `name` (a name the gateway chose, or a persistent
   * container's, which `reuse` keeps across connections and restarts of the host).
   */
  async forContainer(name: string, reuse = false): Promise<ContainerStreams> {
    const hostPath = join(this.root, basename(name));
    // 0711: the session user (any uid) reaches the FIFOs by name, and lists nothing.
    await mkdir(hostPath, { mode: 0o711, recursive: reuse });
    if (reuse) await chmod(hostPath, 0o711);
    return new ContainerStreams(hostPath, this.log);
  }

  /** The directory a container was created with, when it is one of this root's; undefined otherwise. */
  async existing(mounts: ReadonlyArray<{ readonly Source?: string; readonly Destination?: string }>): Promise<ContainerStreams | undefined> {
    const source = mounts.find((mount) => mount.Destination === CONTAINER_STREAM_PATH)?.Source;
    if (source === undefined || join(this.root, basename(source)) !== source) return undefined;
    return this.forContainer(basename(source), true);
  }

  /**
   * Removes directories whose container is gone (a gateway that died leaves its containers to
   * the engine's auto-remove and their directories here). Young ones are left alone: their
   * container may be being created. Resolves with how many it removed; never throws.
   */
  async sweep(liveContainers: ReadonlySet<string>, olderThanMs: number): Promise<number> {
    let removed = 0;
    try {
      for (const name of await readdir(this.root)) {
        if (liveContainers.has(name)) continue;
        const path = join(this.root, name);
        const info = await stat(path).catch(() => undefined);
        if (!info?.isDirectory() || Date.now() - info.mtimeMs < olderThanMs) continue;
        await rm(path, { recursive: true, force: true });
        removed += 1;
      }
    } catch (error) {
      this.log.warn({ code: 'DOCKER_STREAM_DIRECTORY_SWEEP_FAILED', ...errorFields(error) }, 'stream directory sweep failed');
    }
    return removed;
  }
}

/**
 * Makes the root 0700 and the gateway's own, before the gateway drops root (`owner`): only the
 * gateway may reach the FIFOs on the host. Fails with the path and the reason.
 */
export async function prepareStreamRoot(root: string, owner?: { readonly uid: number; readonly gid: number }): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const info = await stat(root);
  if (!info.isDirectory()) throw new Error('not a directory');
  // Only what differs is changed: a root without CAP_FOWNER may not chmod what it gave away.
  if ((info.mode & 0o777) !== 0o700) await chmod(root, 0o700);
  if (owner && (info.uid !== owner.uid || info.gid !== owner.gid)) await chown(root, owner.uid, owner.gid);
}

/** One container's stream directory: FIFO pairs for its programs. */
export class ContainerStreams {
  constructor(
    readonly hostPath: string,
    private readonly log: Logger,
  ) {}

  /** The bind that puts the directory into the container; read-only, so the user cannot add files. */
  get mount(): MountSettings {
    return { Type: 'bind', Source: this.hostPath, Target: CONTAINER_STREAM_PATH, ReadOnly: true };
  }

  /** Whether a program started by `shell -c` can have its stdin and stdout here. */
  static canWrap(shell: string): boolean {
    return POSIX_SHELLS.has(basename(shell));
  }

  /** Makes a FIFO pair and opens the gateway's ends; the program opens the others when it starts. */
  async open(): Promise<DirectStreams> {
    const prefix = join(this.hostPath, randomBytes(8).toString('hex'));
    // Node has no mkfifo(3). 0666: the session user's uid is the policy's, and the directory
    // (0711 inside the gateway's 0700 root) is the only way to the pair.
    await runFile('mkfifo', ['-m', '0666', `${prefix}.in`, `${prefix}.out`]);
    return new DirectStreams(prefix, this.log);
  }

  /** Removes the directory and any FIFOs left in it; never throws. */
  async remove(): Promise<void> {
    await rm(this.hostPath, { recursive: true, force: true }).catch((error: unknown) => {
      this.log.warn({ code: 'DOCKER_STREAM_DIRECTORY_SWEEP_FAILED', ...errorFields(error) }, 'stream directory not removed');
    });
  }
}

/**
 * The gateway's ends of one program's FIFO pair. Opening a FIFO blocks until its other end is
 * open, so neither open here waits for the program: stdin is opened read-write (the gateway
 * holds a reader the program's own open never waits for), and stdout is read while the gateway
 * also holds a writer, so the reader sees no end of file before the program opened its side.
 * That writer is let go once the program ended; its output then ends when the pipe is drained.
 *
 * The program's open of stdin would block for good once the gateway closed it (a client that
 * sent EOF at once): the wrapper therefore writes one byte to stdout after opening both, and
 * stdin is ended only after that byte (`started`), which the gateway drops.
 */
export class DirectStreams {
  readonly stdin: Socket;
  readonly stdout: Socket;
  /** The program opened both FIFOs (or ended, or the streams were destroyed): read stdout from then on, it has only the program's bytes. */
  readonly started: Promise<void>;
  private outputHold: number | undefined;
  private markStarted!: () => void;

  constructor(
    private readonly prefix: string,
    private readonly log: Logger,
  ) {
    const inFd = openSync(`${prefix}.in`, constants.O_RDWR | constants.O_NONBLOCK);
    let outFd: number | undefined;
    try {
      outFd = openSync(`${prefix}.out`, constants.O_RDONLY | constants.O_NONBLOCK);
      this.outputHold = openSync(`${prefix}.out`, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      closeSync(inFd);
      if (outFd !== undefined) closeSync(outFd);
      throw error;
    }
    this.stdin = new Socket({ fd: inFd, readable: false, writable: true });
    this.stdout = new Socket({ fd: outFd, readable: true, writable: false });
    // From the first line: an 'error' nobody listens to would end the process, not the session.
    const failed = (code: string) => (error: Error) => log.debug({ code, ...errorFields(error) }, 'program stream failed');
    this.stdin.on('error', failed('DOCKER_STREAM_INPUT_FAILED'));
    this.stdout.on('error', failed('DOCKER_STREAM_OUTPUT_FAILED'));
    this.started = new Promise((resolve) => {
      // In paused mode until the marker is read; with no 'readable' listener left, the stream is
      // back where it started, and whoever reads next (pipe or 'data') gets the program's bytes.
      const onReadable = () => {
        if (this.stdout.read(1) !== null) this.markStarted();
      };
      this.markStarted = () => {
        this.stdout.off('readable', onReadable);
        resolve();
      };
      this.stdout.on('readable', onReadable);
    });
  }

  /** The command that runs `command` with its stdin and stdout on this pair. */
  wrap(shell: string, command: readonly string[]): string[] {
    const inContainer = `${CONTAINER_STREAM_PATH}/${basename(this.prefix)}`;
    return [shell, '-c', 'exec <"$0.in" >"$0.out" && printf . && exec "$@"', inContainer, ...command];
  }

  /** The program ended: what it wrote is read to the end, then stdout ends. */
  programEnded(): void {
    this.markStarted();
    if (this.outputHold === undefined) return;
    closeSync(this.outputHold);
    this.outputHold = undefined;
  }

  /** Every session's close calls this (the hangup): its FIFO names go with it. */
  destroy(): void {
    this.stdin.destroy();
    this.stdout.destroy();
    this.programEnded();
    void rm(`${this.prefix}.in`, { force: true })
      .then(() => rm(`${this.prefix}.out`, { force: true }))
      .catch((error: unknown) => this.log.debug({ code: 'DOCKER_STREAM_DIRECTORY_SWEEP_FAILED', ...errorFields(error) }, 'FIFO not removed'));
  }
}

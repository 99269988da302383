import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { DockerExecution } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';
import type { Logger } from '../../observability/index.ts';
import type { BackendSession, SessionProgram } from '../backend.ts';
import { startingAtSize } from '../terminal-size.ts';
import { ensureRunning } from './container-lifecycle.ts';
import { DirectDockerSession } from './direct-session.ts';
import { DockerSession } from './docker-session.ts';
import { ContainerStreams, type DirectStreams } from './stream-directory.ts';

/**
 * Starts one program in a running container with `docker exec`. With `streams` (the
 * container's stream directory), a program without a terminal under a POSIX shell gets its
 * stdin and stdout through a FIFO pair there; anything else is attached through the engine.
 */
export async function execProgram(container: Docker.Container, execution: DockerExecution, program: SessionProgram, log: Logger, streams?: ContainerStreams): Promise<BackendSession> {
  const shell = execution.shellCommand;
  let cmd = program.command === null ? shell : [shell[0]!, '-c', program.command];
  if (program.subsystem !== undefined) {
    // The name is the client's: an own entry only, never `constructor` from the prototype.
    const binary = Object.hasOwn(execution.subsystems, program.subsystem) ? execution.subsystems[program.subsystem] : undefined;
    if (typeof binary !== 'string' || binary === '') {
      throw new GatewayError('DOCKER_SUBSYSTEM_NOT_SUPPORTED', `The ${program.subsystem} subsystem is not available in your session.`);
    }
    cmd = [binary];
  }
  const tty = program.pty !== undefined;
  // ConsoleSize is [rows, cols] from Engine API 1.42; older engines ignore it, and the shell sets it.
  const consoleSize: [number, number] | undefined = program.pty ? [program.pty.rows, program.pty.cols] : undefined;
  if (program.pty) cmd = startingAtSize(shell[0]!, program.pty, cmd);
  const direct = streams && !tty && ContainerStreams.canWrap(shell[0]!) ? await openStreams(streams) : undefined;
  if (direct) cmd = direct.wrap(shell[0]!, cmd);
  try {
    const exec = await container.exec({
      Cmd: cmd,
      AttachStdin: !direct,
      AttachStdout: !direct,
      AttachStderr: true,
      Tty: tty,
      Env: Object.entries(program.env).map(([name, value]) => `${name}=${value}`),
      ...(consoleSize ? { ConsoleSize: consoleSize } : {}),
    });
    const socket = (await exec.start({ hijack: true, stdin: !direct, Tty: tty, ...(consoleSize ? { ConsoleSize: consoleSize } : {}) })) as Duplex;
    if (!direct) return new DockerSession(exec, socket, tty, log);
    const session = new DirectDockerSession(exec, socket, direct, log);
    await session.started;
    return session;
  } catch (cause) {
    direct?.destroy();
    // The container's program may have ended just after its start was checked (an idle command
    // that exits at once): then that, not the exec, is what failed. The engine says so in more
    // than one way, by when it noticed: 409 (not running), 404 (already auto-removed), or a
    // start that breaks off; so the container is asked whatever the exec's error was.
    await ensureRunning(container).catch((error: unknown) => {
      if (error instanceof GatewayError) throw error;
    });
    throw new GatewayError('DOCKER_EXEC_CREATE_FAILED', 'Could not start the program in your session container.', { cause });
  }
}

async function openStreams(streams: ContainerStreams): Promise<DirectStreams> {
  try {
    return await streams.open();
  } catch (cause) {
    throw new GatewayError('DOCKER_STREAM_DIRECTORY_FAILED', 'Could not start the program in your session container.', { cause });
  }
}

import Docker from 'dockerode';
import type { DockerExecution } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';
import { errorFields, type Logger } from '../../observability/index.ts';
import type { Backend, BackendConnection, BackendSession, ConnectionRequest, SessionProgram } from '../backend.ts';
import { containerCreateOptions } from './container-spec.ts';
import { DockerSession } from './docker-session.ts';
import { ensureImage } from './image-pull.ts';

export interface DockerBackendOptions {
  readonly socketPath: string;
  /** This gateway instance; written on every container so orphans can be traced. */
  readonly instanceId: string;
  readonly log: Logger;
}

/** Docker backend, `connection` mode: one container per SSH connection, one exec per session. */
export class DockerBackend implements Backend {
  readonly name = 'docker';
  private readonly docker: Docker;

  constructor(private readonly options: DockerBackendOptions) {
    this.docker = new Docker({ socketPath: options.socketPath });
  }

  async openConnection(request: ConnectionRequest): Promise<BackendConnection> {
    const execution = request.config.docker?.execution;
    if (request.config.backend !== 'docker' || !execution) {
      throw new GatewayError('CONFIG_UNSUPPORTED', 'Session refused: the configuration names no Docker container.');
    }
    const log = this.options.log.child({ backend: 'docker' });
    await ensureImage(this.docker, execution.container.image, execution.imagePullPolicy, log);
    const spec = containerCreateOptions(
      execution,
      { instanceId: this.options.instanceId, connectionId: request.identity.connectionId },
      request.environment,
    );
    log.debug({ code: 'DOCKER_CONTAINER_CREATE', image: spec.Image }, 'creating container');
    let container: Docker.Container | undefined;
    try {
      container = await this.docker.createContainer(spec);
      await container.start();
    } catch (cause) {
      if (container) await removeQuietly(container, log);
      throw new GatewayError('DOCKER_CONTAINER_CREATE_FAILED', 'Could not start your session container.', { cause });
    }
    return new DockerConnection(container, execution, log);
  }
}

class DockerConnection implements BackendConnection {
  private closing: Promise<void> | undefined;
  private readonly sessions = new Set<BackendSession>();

  constructor(
    private readonly container: Docker.Container,
    private readonly execution: DockerExecution,
    private readonly log: Logger,
  ) {}

  async startSession(program: SessionProgram): Promise<BackendSession> {
    if (this.closing) throw new GatewayError('DOCKER_EXEC_CREATE_FAILED', 'The session container is shutting down.');
    const shell = this.execution.shellCommand;
    const cmd = program.command === null ? shell : [shell[0]!, '-c', program.command];
    const tty = program.pty !== undefined;
    try {
      const exec = await this.container.exec({
        Cmd: cmd,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: tty,
        Env: Object.entries(program.env).map(([name, value]) => `${name}=${value}`),
      });
      const socket = await exec.start({ hijack: true, stdin: true, Tty: tty });
      const session = new DockerSession(exec, socket, tty, this.log);
      if (program.pty) await session.resize(program.pty.cols, program.pty.rows);
      this.sessions.add(session);
      void session.exited.finally(() => this.sessions.delete(session));
      return session;
    } catch (cause) {
      throw new GatewayError('DOCKER_EXEC_CREATE_FAILED', 'Could not start the program in your session container.', { cause });
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const session of this.sessions) session.destroy();
      await removeQuietly(this.container, this.log);
    })();
    return this.closing;
  }
}

/** Force-removes a container; "already gone" counts as success. Never throws. */
async function removeQuietly(container: Docker.Container, log: Logger): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
    log.debug({ code: 'DOCKER_CONTAINER_REMOVE_SUCCESSFUL' }, 'container removed');
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return;
    log.error({ code: 'DOCKER_CONTAINER_REMOVE_FAILED', ...errorFields(error) }, 'container not removed');
  }
}

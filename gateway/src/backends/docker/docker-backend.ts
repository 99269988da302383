import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import type { DockerExecution } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';
import type { Logger } from '../../observability/index.ts';
import { ApiPool, poolDockerModem, type ApiPoolLimits } from '../api-pool.ts';
import type { Backend, BackendConnection, BackendSession, ConnectionRequest, SessionProgram } from '../backend.ts';
import { writeContainerFiles } from './container-files.ts';
import { containerCreateOptions, type ContainerOwner } from './container-spec.ts';
import { startOwnedContainer, type OwnedContainer } from './container-lifecycle.ts';
import { execProgram } from './exec-program.ts';
import { ensureImage } from './image-pull.ts';
import { reachPersistentContainer } from './persistent-container.ts';
import type { ContainerStreams, StreamDirectory } from './stream-directory.ts';

export interface DockerEngineOptions {
  readonly socketPath: string;
  /** `tcp://host:port`; then `tls` is required. */
  readonly host?: string;
  readonly tls?: { readonly caFile: string; readonly certFile: string; readonly keyFile: string };
  /** Engine requests in flight and queued at once for the whole process; unbounded without it. */
  readonly requestPool?: ApiPoolLimits;
}

/** The engine client, over the Unix socket or over TCP with mutual TLS, its requests bounded. */
export function connectDockerEngine(options: DockerEngineOptions): Docker {
  const docker = engineClient(options);
  if (options.requestPool) poolDockerModem(docker.modem as Parameters<typeof poolDockerModem>[0], new ApiPool('docker', options.requestPool));
  return docker;
}

function engineClient(options: DockerEngineOptions): Docker {
  if (!options.host) return new Docker({ socketPath: options.socketPath });
  const url = new URL(options.host);
  return new Docker({
    protocol: 'https',
    host: url.hostname,
    port: Number(url.port),
    ca: readFileSync(options.tls!.caFile),
    cert: readFileSync(options.tls!.certFile),
    key: readFileSync(options.tls!.keyFile),
  });
}

export interface DockerBackendOptions {
  readonly docker: Docker;
  /** This gateway instance; written on every container so orphans can be traced. */
  readonly instanceId: string;
  readonly log: Logger;
  /** Non-terminal programs' stdin and stdout through FIFOs there (stream-directory.ts); the engine's attach stream without it. */
  readonly streams?: StreamDirectory;
}

/** Docker backend: `connection`, `session` and `persistent` modes, as ContainerSSH names them. */
export class DockerBackend implements Backend {
  readonly name = 'docker';

  constructor(private readonly options: DockerBackendOptions) {}

  async openConnection(request: ConnectionRequest): Promise<BackendConnection> {
    const execution = request.config.docker?.execution;
    if (request.config.backend !== 'docker' || !execution) {
      throw new GatewayError('CONFIG_UNSUPPORTED', 'Session refused: the configuration names no Docker container.');
    }
    const { docker, instanceId } = this.options;
    const log = this.options.log.child({ backend: 'docker', mode: execution.mode });
    await ensureImage(docker, execution.container.image, execution.imagePullPolicy, log, request.onProgress);
    const owner: ContainerOwner = { instanceId, connectionId: request.identity.connectionId };
    const spec = containerCreateOptions(execution, owner);
    log.debug({ code: 'DOCKER_CONTAINER_CREATE', image: spec.Image }, 'preparing container');
    /** Webhook files go into every container before its first session; a failure removes what this connection owns. */
    const withFiles = async (owned: OwnedContainer): Promise<OwnedContainer> => {
      await writeContainerFiles(owned.container, request.files, execution.container.user).catch(async (error: unknown) => {
        await owned.release();
        throw error;
      });
      return owned;
    };
    switch (execution.mode) {
      case 'connection': {
        const { owned, streams } = await startWithStreams(docker, spec, this.options.streams, log);
        return new SharedContainerConnection(await withFiles(owned), execution, log, streams);
      }
      case 'session':
        return new ContainerPerSessionConnection(docker, spec, execution, log, withFiles, this.options.streams);
      case 'persistent': {
        const { container, streams } = await reachPersistentContainer(docker, execution, spec, log, this.options.streams);
        // The container outlives the connection: releasing it only ends this connection's programs.
        return new SharedContainerConnection(await withFiles({ container, release: async () => undefined }), execution, log, streams);
      }
    }
  }
}

/**
 * Starts a container the connection owns, with its stream directory mounted when the gateway
 * has one; releasing the container removes the directory too.
 */
async function startWithStreams(
  docker: Docker,
  spec: Docker.ContainerCreateOptions,
  directory: StreamDirectory | undefined,
  log: Logger,
): Promise<{ owned: OwnedContainer; streams?: ContainerStreams }> {
  if (!directory) return { owned: await startOwnedContainer(docker, spec, log) };
  let streams: ContainerStreams;
  try {
    streams = await directory.forContainer(spec.name!);
  } catch (cause) {
    throw new GatewayError('DOCKER_STREAM_DIRECTORY_FAILED', 'Could not start your session: its container could not be prepared.', { cause });
  }
  const mounts = [...(spec.HostConfig?.Mounts ?? []), streams.mount];
  try {
    const owned = await startOwnedContainer(docker, { ...spec, HostConfig: { ...spec.HostConfig, Mounts: mounts } }, log);
    return { owned: { container: owned.container, release: () => owned.release().then(() => streams.remove()) }, streams };
  } catch (error) {
    await streams.remove();
    throw error;
  }
}

/** Sessions share one container (`connection` and `persistent` modes). */
class SharedContainerConnection implements BackendConnection {
  private closing: Promise<void> | undefined;
  private readonly sessions = new Set<BackendSession>();

  constructor(
    private readonly owned: OwnedContainer,
    private readonly execution: DockerExecution,
    private readonly log: Logger,
    private readonly streams?: ContainerStreams,
  ) {}

  async startSession(program: SessionProgram): Promise<BackendSession> {
    if (this.closing) throw new GatewayError('DOCKER_EXEC_CREATE_FAILED', 'The session container is shutting down.');
    const session = await execProgram(this.owned.container, this.execution, program, this.log, this.streams);
    this.sessions.add(session);
    void session.exited.finally(() => this.sessions.delete(session));
    return session;
  }

  async runHelper(command: string): Promise<BackendSession> {
    if (this.closing) throw new GatewayError('DOCKER_EXEC_CREATE_FAILED', 'The session container is shutting down.');
    return execProgram(this.owned.container, this.execution, { command, env: {} }, this.log);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const session of this.sessions) session.destroy();
      await this.owned.release();
    })();
    return this.closing;
  }
}

/** `session` mode: every session channel gets a container of its own, removed when it ends. */
class ContainerPerSessionConnection implements BackendConnection {
  private closing: Promise<void> | undefined;
  private readonly containers = new Set<OwnedContainer>();

  constructor(
    private readonly docker: Docker,
    private readonly spec: Docker.ContainerCreateOptions,
    private readonly execution: DockerExecution,
    private readonly log: Logger,
    private readonly prepare: (owned: OwnedContainer) => Promise<OwnedContainer> = async (owned) => owned,
    private readonly directory?: StreamDirectory,
  ) {}

  async startSession(program: SessionProgram): Promise<BackendSession> {
    if (this.closing) throw new GatewayError('DOCKER_EXEC_CREATE_FAILED', 'The session container is shutting down.');
    const name = `${this.spec.name}-${this.containers.size + 1}-${Date.now().toString(36)}`;
    const { owned: started, streams } = await startWithStreams(this.docker, { ...this.spec, name }, this.directory, this.log);
    const owned = await this.prepare(started);
    this.containers.add(owned);
    const release = () => {
      this.containers.delete(owned);
      return owned.release();
    };
    try {
      const session = await execProgram(owned.container, this.execution, program, this.log, streams);
      void session.exited.finally(release);
      return session;
    } catch (error) {
      await release();
      throw error;
    }
  }

  close(): Promise<void> {
    this.closing ??= Promise.all([...this.containers].map((owned) => owned.release())).then(() => undefined);
    return this.closing;
  }
}

import { z } from 'zod';
import { ConnectionMapsSchema } from './metadata.ts';
import { AuthorizationRequestSchema } from './auth.ts';

/** The config webhook gets the same body as /authz (ContainerSSH configserver.md). */
export const ConfigRequestSchema = AuthorizationRequestSchema;
export type ConfigRequest = z.infer<typeof ConfigRequestSchema>;

/**
 * Docker container settings, camelCase forms of the Docker Engine API `ContainerConfig`
 * names (ContainerSSH matches these case-insensitively). Objects are strict: a key the
 * gateway cannot honour is an error, never silently ignored.
 */
export const DockerContainerSchema = z.strictObject({
  image: z.string().min(1),
  user: z.string().regex(/^\d+(:\d+)?$/, 'user is a numeric uid[:gid]').optional(),
  env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/, 'env entries are NAME=value')).optional(),
  workingDir: z.string().startsWith('/').optional(),
  hostname: z.string().max(63).optional(),
  labels: z.record(z.string(), z.string()).optional(),
});
export type DockerContainer = z.infer<typeof DockerContainerSchema>;

/** Docker `HostConfig` subset; the fields the hardened baseline sets. */
export const DockerHostSchema = z.strictObject({
  readonlyRootfs: z.boolean().optional(),
  capDrop: z.array(z.string()).optional(),
  securityOpt: z.array(z.string()).optional(),
  pidsLimit: z.number().int().positive().optional(),
  memory: z.number().int().positive().optional(),
  memorySwap: z.number().int().optional(),
  nanoCpus: z.number().int().positive().optional(),
  tmpfs: z.record(z.string().startsWith('/'), z.string()).optional(),
  networkMode: z.string().optional(),
  ipcMode: z.enum(['private', 'none']).optional(),
  /** Docker keeps the host's cgroup namespace on cgroup v1 hosts unless asked. */
  cgroupnsMode: z.enum(['private']).optional(),
});
export type DockerHost = z.infer<typeof DockerHostSchema>;

export const DockerExecutionSchema = z
  .strictObject({
    /**
     * `connection`: one container per SSH connection, one exec per session channel.
     * `session`: one container per session channel.
     * `persistent`: exec into the container named by `containerName`, which outlives connections.
     */
    mode: z.enum(['connection', 'session', 'persistent']).default('connection'),
    /** Persistent mode: the container to reach (created when missing and `createMissingContainers`). */
    containerName: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/, 'containerName is a Docker container name')
      .optional(),
    createMissingContainers: z.boolean().default(false),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    container: DockerContainerSchema,
    host: DockerHostSchema.default({}),
    /** Program run for a shell request (ContainerSSH `shellCommand`). */
    shellCommand: z.array(z.string().min(1)).min(1).default(['/bin/sh']),
    /**
     * Program the container idles in between sessions (ContainerSSH `idleCommand`). It must end
     * when its stdin closes: the gateway holds stdin open, so a container whose gateway died
     * stops by itself.
     */
    idleCommand: z.array(z.string().min(1)).min(1).default(['/bin/sh', '-c', 'read -r _ || true']),
  })
  .refine((execution) => execution.mode !== 'persistent' || execution.containerName !== undefined, {
    message: 'persistent mode needs containerName',
    path: ['containerName'],
  });
export type DockerExecution = z.infer<typeof DockerExecutionSchema>;

export const DockerConfigSchema = z.strictObject({
  execution: DockerExecutionSchema,
});

/** The part of ContainerSSH's AppConfig a config webhook may set and the gateway supports. */
export const AppConfigSchema = z
  .strictObject({
    backend: z.enum(['docker']),
    docker: DockerConfigSchema.optional(),
  })
  .refine((config) => config.backend !== 'docker' || config.docker !== undefined, {
    message: 'backend "docker" needs a docker.execution section',
    path: ['docker'],
  });
export type AppConfig = z.infer<typeof AppConfigSchema>;

export const ConfigResponseSchema = z
  .object({ config: AppConfigSchema })
  .extend(ConnectionMapsSchema.shape);
export type ConfigResponse = z.infer<typeof ConfigResponseSchema>;

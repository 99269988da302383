export { DockerBackend, connectDockerEngine, type DockerBackendOptions, type DockerEngineOptions } from './docker-backend.ts';
export { ContainerReaper } from './container-reaper.ts';
export { LABEL_INSTANCE, LABEL_CONNECTION, LABEL_SESSION, LABEL_MANAGED_BY, LABEL_PERSISTENT, MANAGED_BY } from './container-spec.ts';
export { StreamDirectory } from './stream-directory.ts';

export { DockerBackend, type DockerBackendOptions } from './docker-backend.ts';
export { LABEL_INSTANCE, LABEL_CONNECTION, LABEL_SESSION, LABEL_MANAGED_BY, MANAGED_BY } from './container-spec.ts';

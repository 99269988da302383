export type { Backend, BackendConnection, BackendSession, ConnectionRequest, ExitStatus, ForwardEndpoints, SessionProgram } from './backend.ts';
export { BackendRouter } from './backend-router.ts';
export { UserContainerBudget, UserContainerSlots, type ContainerSlots } from './user-containers.ts';

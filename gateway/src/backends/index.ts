export type { Backend, BackendConnection, BackendSession, ConnectionRequest, ExitStatus, SessionProgram } from './backend.ts';
export { BackendRouter } from './backend-router.ts';

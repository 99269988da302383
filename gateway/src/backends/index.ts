export type { Backend, BackendConnection, BackendSession, ConnectionRequest, SessionProgram } from './backend.ts';

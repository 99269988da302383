export { handleConnection, type ConnectionDependencies } from './connection-flow.ts';
export type { ConnectionIdentity } from '../identity/connection-identity.ts';
export { UserConnections, type ConnectionSlot, type ConnectionSlots } from './user-connections.ts';

import type { Connection } from 'ssh2';

type GlobalRequestHandler = (protocol: unknown, name: string, wantReply: boolean, data: unknown) => unknown;
interface ProtocolInternals {
  _handlers?: { GLOBAL_REQUEST?: GlobalRequestHandler };
}

/**
 * Calls `record` with the name of every global request the client sends, before or after
 * login. ssh2 emits `request` only for forwarding requests after login and answers every other
 * one (`keepalive@openssh.com`, `hostkeys-prove-00@openssh.com`…) itself, so the tap wraps the
 * protocol's GLOBAL_REQUEST handler, a private field of ssh2. Returns false when that field is
 * not there (another ssh2 version): the caller then records what the `request` event shows.
 */
export function tapGlobalRequests(client: Connection, record: (name: string) => void): boolean {
  const protocol = (client as unknown as { _protocol?: ProtocolInternals })._protocol;
  const handlers = protocol?._handlers;
  const original = handlers?.GLOBAL_REQUEST;
  if (!handlers || typeof original !== 'function') return false;
  handlers.GLOBAL_REQUEST = (self, name, wantReply, data) => {
    record(String(name));
    return original.call(handlers, self, name, wantReply, data);
  };
  return true;
}

import type { Connection } from 'ssh2';
import { wrapGlobalRequestHandler } from '../../ssh2-internals.ts';

/**
 * Calls `record` with the name of every global request the client sends, before or after
 * login. ssh2 emits `request` only for forwarding requests after login and answers every other
 * one (`keepalive@openssh.com`, `hostkeys-prove-00@openssh.com`…) itself, so the tap wraps the
 * protocol's GLOBAL_REQUEST handler, a private field of ssh2. Returns false when that field is
 * not there (another ssh2 version): the caller then records what the `request` event shows.
 */
export function tapGlobalRequests(client: Connection, record: (name: string) => void): boolean {
  return wrapGlobalRequestHandler(client, record);
}

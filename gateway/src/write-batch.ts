import type { Writable } from 'node:stream';

const held = new WeakSet<Writable>();

/**
 * Corks `socket` until the event loop's check phase: the SSH packets written meanwhile (the
 * data of every read the loop handled in this turn) leave in one writev instead of one
 * syscall each, the top cost of a bulk download. Nothing waits longer than this turn.
 */
export function holdWritesThisTurn(socket: Writable): void {
  if (held.has(socket)) return;
  held.add(socket);
  socket.cork();
  setImmediate(() => {
    held.delete(socket);
    socket.uncork();
  });
}

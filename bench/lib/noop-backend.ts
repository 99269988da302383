import { PassThrough, Writable } from 'node:stream';
import type { Backend, BackendConnection, BackendSession, ExitStatus, SessionProgram } from '../../gateway/src/backends/index.ts';

/**
 * A backend that starts nothing: a session echoes its stdin, answers `exit` commands at
 * once, and lives until closed. With it the benchmarks measure the gateway alone.
 */
export class NoopBackend implements Backend {
  readonly name = 'noop';

  async openConnection(): Promise<BackendConnection> {
    const sessions = new Set<BackendSession>();
    return {
      startSession: async (program: SessionProgram) => {
        const session = noopSession(program);
        sessions.add(session);
        void session.exited.finally(() => sessions.delete(session));
        return session;
      },
      close: async () => {
        for (const session of sessions) session.destroy();
      },
    };
  }
}

function noopSession(program: SessionProgram): BackendSession {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let finish!: (status: ExitStatus) => void;
  const exited = new Promise<ExitStatus>((resolve) => (finish = resolve));
  const end = (exitCode: number) => {
    stdout.end();
    stderr.end();
    finish({ exitCode });
  };
  const stdin = new Writable({
    write: (chunk, _encoding, callback) => (stdout.write(chunk) ? callback() : stdout.once('drain', callback)),
    final: (callback) => {
      end(0);
      callback();
    },
  });
  // `exit N` ends at once, like a command that does nothing; anything else waits for stdin EOF.
  const exitCommand = /^exit (\d+)$/.exec(program.command ?? '');
  if (exitCommand) queueMicrotask(() => end(Number(exitCommand[1])));
  return { stdin, stdout, stderr, exited, resize: async () => undefined, destroy: () => end(0) };
}

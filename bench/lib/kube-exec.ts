/**
 * The Kubernetes floor: the same bytes through a direct client-node exec against the test API
 * server, into the pod the sessions use, with no SSH and no gateway in between.
 */
import { createReadStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { KubeClients } from '../../test/kube-apiserver/client.ts';
import type { TransferFiles } from './transfer.ts';

const EXEC_TIMEOUT_MS = 600_000;

/** One upload (`cat > /dev/null` reading the payload) or download (`head -c N /dev/zero`); resolves with its wall time in ms. */
export function throughClientNodeExec(direction: 'upload' | 'download', clients: KubeClients, namespace: string, pod: string, container: string, files: TransferFiles): Promise<number> {
  const started = performance.now();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let received = 0;
  stdout.on('data', (chunk: Buffer) => (received += chunk.length));
  stderr.resume();
  const stdin = direction === 'upload' ? createReadStream(files.payload, { highWaterMark: 256 * 1024 }) : null;
  const command = direction === 'upload' ? ['sh', '-c', 'cat > /dev/null'] : ['head', '-c', String(files.bytes), '/dev/zero'];
  let socket: Awaited<ReturnType<KubeClients['exec']['exec']>> | undefined;
  let timer: NodeJS.Timeout | undefined;
  return new Promise<number>((resolve, reject) => {
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket?.close();
      stdin?.destroy();
      if (error) return reject(error);
      if (direction === 'download' && received !== files.bytes) return reject(new Error(`client-node exec delivered ${received} of ${files.bytes} bytes`));
      resolve(performance.now() - started);
    };
    timer = setTimeout(() => done(new Error(`client-node exec did not finish in ${EXEC_TIMEOUT_MS} ms`)), EXEC_TIMEOUT_MS);
    clients.exec
      .exec(namespace, pod, container, command, stdout, stderr, stdin, false, (status) => {
        if (status.status === 'Success') done();
        else done(new Error(`client-node exec failed: ${status.message ?? status.reason ?? 'unknown'}`));
      })
      .then(
        (opened) => {
          socket = opened;
          // Without a status frame the callback never runs: the socket's close ends the wait.
          opened.once('close', () => done(new Error('client-node exec closed without a status')));
        },
        (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
      );
  });
}

import { fileMode, type FilesMap } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';
import type { Logger } from '../../observability/index.ts';
import type { Cluster } from './cluster.ts';
import { PodExecSession } from './pod-exec.ts';

/**
 * `umask 077` so the file is never readable by others between creation and chmod; `$1` is the
 * path and `$2` the mode, passed as arguments so no quoting of untrusted text is involved. The
 * content arrives on stdin, so it never appears in the exec request (which API audit logs keep).
 */
const SCRIPT = 'umask 077 && mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" -- "$1"';

/**
 * Writes the webhooks' files into a running pod's console container before its first session,
 * as the container's own user. A path outside a writable mount fails the login with
 * KUBERNETES_FILE_WRITE_FAILED naming the path, never the content. Files written before a
 * failing one stay; the caller deletes the pod.
 */
export async function writePodFiles(cluster: Cluster, pod: string, container: string, files: Readonly<FilesMap> | undefined, timeoutMs: number, log: Logger): Promise<void> {
  for (const [path, file] of Object.entries(files ?? {})) {
    const mode = fileMode(file).toString(8).padStart(4, '0');
    let exitCode: number;
    try {
      const session = await new PodExecSession(undefined, log).open(cluster, pod, container, ['/bin/sh', '-c', SCRIPT, 'portcullis-write-file', path, mode], timeoutMs);
      session.stderr.resume();
      session.stdout.resume();
      session.stdin.end(Buffer.from(file.value, 'base64'));
      const status = await session.exited;
      exitCode = 'exitCode' in status ? status.exitCode : 255;
    } catch (cause) {
      throw new GatewayError('KUBERNETES_FILE_WRITE_FAILED', `Could not start your session: writing ${path} failed.`, { cause });
    }
    if (exitCode !== 0) {
      throw new GatewayError('KUBERNETES_FILE_WRITE_FAILED', `Could not start your session: ${path} could not be written (is it in a writable place?).`, {
        cause: new Error(`exit ${exitCode}`),
      });
    }
  }
}

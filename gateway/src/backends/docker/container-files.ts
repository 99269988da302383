import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { fileMode, type FilesMap } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';

/**
 * Writes the webhooks' files into a running container, as `user`, before its first session.
 *
 * Not `putArchive`: the session container has a read-only root, and the engine refuses an
 * archive upload to such a container even into a tmpfs mount ("container rootfs is marked
 * read-only", Docker 20.10). So each file is one exec of a small `sh` as the session user
 * (which makes the user its owner) with the content on stdin: it never appears in a command
 * line, `docker inspect`, or a log. The path must lie in a writable place (the home tmpfs);
 * anything else fails the login with DOCKER_FILES_WRITE_FAILED naming the path, never the content.
 *
 * On failure files written before the failing one stay; the caller removes the container.
 */
export async function writeContainerFiles(container: Docker.Container, files: Readonly<FilesMap> | undefined, user: string | undefined): Promise<void> {
  for (const [path, file] of Object.entries(files ?? {})) {
    const mode = fileMode(file).toString(8).padStart(4, '0');
    let exitCode: number | null;
    let stderr: string;
    try {
      ({ exitCode, stderr } = await runWithStdin(container, user, path, mode, Buffer.from(file.value, 'base64')));
    } catch (cause) {
      throw new GatewayError('DOCKER_FILES_WRITE_FAILED', `Could not start your session: writing ${path} failed.`, { cause });
    }
    if (exitCode !== 0) {
      throw new GatewayError('DOCKER_FILES_WRITE_FAILED', `Could not start your session: ${path} could not be written (is it in a writable place?).`, {
        cause: new Error(`exit ${exitCode}: ${stderr.slice(0, 500)}`),
      });
    }
  }
}

/**
 * `umask 077` so the file is never readable by others between creation and chmod; the parent
 * folders are created as needed. `$1` is the path and `$2` the mode, passed as arguments so no
 * quoting of untrusted text is involved.
 */
const SCRIPT = 'umask 077 && mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" -- "$1"';

async function runWithStdin(container: Docker.Container, user: string | undefined, path: string, mode: string, content: Buffer): Promise<{ exitCode: number | null; stderr: string }> {
  const exec = await container.exec({
    Cmd: ['/bin/sh', '-c', SCRIPT, 'portcullis-write-file', path, mode],
    ...(user ? { User: user } : {}),
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });
  const socket = (await exec.start({ hijack: true, stdin: true, Tty: false })) as Duplex;
  const output: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => output.push(chunk));
    socket.once('end', resolve);
    socket.once('close', resolve);
    socket.once('error', reject);
    // Half-close after the content: the engine then closes the program's stdin and `cat` ends.
    socket.end(content);
  });
  const info = await exec.inspect();
  return { exitCode: info.ExitCode, stderr: demuxedText(Buffer.concat(output)) };
}

/** The text of Docker's multiplexed stream (8-byte frame headers), for an operator's log. */
function demuxedText(data: Buffer): string {
  let text = '';
  for (let at = 0; at + 8 <= data.length; ) {
    const size = data.readUInt32BE(at + 4);
    text += data.subarray(at + 8, at + 8 + size).toString('utf8');
    at += 8 + size;
  }
  return text;
}

import { once } from 'node:events';
import { connect } from 'node:net';
import ssh2 from 'ssh2';

export type Credential = { readonly password: string } | { readonly privateKey: string };

/** Logs in with ssh2's client; resolves with the ready client. */
export async function login(port: number, username: string, credential: Credential): Promise<ssh2.Client> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject);
    client.connect({ sock: socket, username, ...credential, hostVerifier: () => true, readyTimeout: 60_000 });
  });
  return client;
}

/** Runs `command` as a session; resolves when the channel closes. */
export function execToEnd(client: ssh2.Client, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(error);
      channel.on('close', () => resolve());
      channel.resume();
      channel.stderr.resume();
    });
  });
}

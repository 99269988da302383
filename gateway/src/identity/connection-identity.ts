import { randomBytes } from 'node:crypto';

/** What every webhook is told about the connection (ContainerSSH metadata/connection.go). */
export interface ConnectionIdentity {
  /** 32 lower-case hex characters, like ContainerSSH's. */
  readonly connectionId: string;
  /** `ip:port`, IPv6 in brackets. */
  readonly remoteAddress: string;
  readonly clientVersion?: string;
}

export function newConnectionId(): string {
  return randomBytes(16).toString('hex');
}

export function formatRemoteAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

import { statSync } from 'node:fs';
import { GatewayError } from '../errors.ts';

export interface DroppedTo {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups kept: the Docker socket's group, when there is a socket. */
  readonly groups: number[];
}

/**
 * Leaves root for `runAs` (`uid:gid`). The only privilege kept is membership of the
 * group that owns the Docker socket, found at start so the operator need not know the
 * host's docker gid. Does nothing when not root: then the operator chose the user.
 */
export function dropPrivileges(runAs: string | undefined, dockerSocketPath: string | undefined): DroppedTo | undefined {
  if (!runAs || process.getuid?.() !== 0) return undefined;
  const [uid, gid] = runAs.split(':').map(Number) as [number, number];
  const groups: number[] = [];
  if (dockerSocketPath) {
    try {
      groups.push(statSync(dockerSocketPath).gid);
    } catch {
      // No socket: the engine is reached over TCP, or not at all (reported on first use).
    }
  }
  try {
    process.setgroups!(groups);
    process.setgid!(gid);
    process.setuid!(uid);
  } catch (cause) {
    throw new GatewayError('GATEWAY_START_FAILED', `Cannot switch to user ${runAs}.`, { cause });
  }
  if (process.getuid!() === 0 || process.geteuid!() === 0) {
    throw new GatewayError('GATEWAY_START_FAILED', `Still root after switching to ${runAs}; refusing to run.`);
  }
  return { uid, gid, groups };
}

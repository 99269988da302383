/**
 * Message type numbers of ContainerSSH's binary audit log (FORMAT.v1.md and the v2 writer),
 * so existing tooling reads ours. Portcullis's own events use the 6xx range.
 */
export const MESSAGE_TYPES = {
  connect: 0,
  disconnect: 1,
  authPassword: 100,
  authPasswordSuccessful: 101,
  authPasswordFailed: 102,
  authPasswordBackendError: 103,
  authPubKey: 104,
  authPubKeySuccessful: 105,
  authPubKeyFailed: 106,
  authPubKeyBackendError: 107,
  authKeyboardInteractiveChallenge: 108,
  authKeyboardInteractiveAnswer: 109,
  authKeyboardInteractiveFailed: 110,
  authKeyboardInteractiveBackendError: 111,
  handshakeFailed: 198,
  handshakeSuccessful: 199,
  globalRequestUnknown: 200,
  newChannel: 300,
  newChannelSuccessful: 301,
  newChannelFailed: 302,
  channelRequestUnknownType: 400,
  channelRequestSetEnv: 402,
  channelRequestExec: 403,
  channelRequestPty: 404,
  channelRequestShell: 405,
  channelRequestSignal: 406,
  channelRequestSubsystem: 407,
  channelRequestWindow: 408,
  close: 497,
  exitSignal: 498,
  exit: 499,
  io: 500,
  requestFailed: 501,
  /** Portcullis: one decoded SFTP operation on a file (payload: SftpFileEvent). */
  sftpFile: 600,
  /** Portcullis: nothing after this was recorded (payload: reason, scope, the bound reached). */
  recordingStopped: 601,
} as const;

export type MessageTypeName = keyof typeof MESSAGE_TYPES;

const NAMES = new Map<number, MessageTypeName>(Object.entries(MESSAGE_TYPES).map(([name, type]) => [type, name as MessageTypeName]));

export function messageTypeName(type: number): string {
  return NAMES.get(type) ?? `unknown(${type})`;
}

/** I/O stream numbers of PayloadIO. */
export const STREAMS = { stdin: 0, stdout: 1, stderr: 2 } as const;
export type StreamName = keyof typeof STREAMS;

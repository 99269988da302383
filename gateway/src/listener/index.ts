export { startSshListener, type SshListener, type ListenerOptions } from './ssh-listener.ts';
export { loadHostKeys, generateParsableKeyPair } from './host-keys.ts';
export { showUserAuthMessage } from './user-message.ts';

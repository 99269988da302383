export { createSshEdge, startSshListener, type SshEdge, type SshListener, type ListenerOptions } from './ssh-listener.ts';
export { LocalSourceAdmission, type AdmissionTicket, type AdmissionVerdict, type SourceAdmission } from './source-admission.ts';
export { acceptingProxyProtocol, trustedProxyCheck } from './proxy-protocol.ts';
export { loadHostKeys, generateParsableKeyPair } from '../host-keys.ts';
export { showUserAuthMessage } from './user-message.ts';

export { SshProxyBackend } from './ssh-proxy-backend.ts';
export { fingerprintOf } from './host-key-pin.ts';

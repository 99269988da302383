export { relayKeyboardInteractive, type AskClient, type AskServer, type RelayOutcome } from './keyboard-interactive-relay.ts';
export { describeCertificate, isCertificateAlgorithm, verifyCertificateSignature } from './certificate-signature.ts';

export { UserCertificateVerifier, CERTIFICATE_TYPE, type CertificateCheck, type CertificateRefusal } from './user-certificate.ts';
export { RevocationFile, RevocationListError, type RevocationList } from './revocation.ts';
export { verifySshSignature, certificateParts } from '@portcullis/kit';

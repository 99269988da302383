export { handleDirectTcpip } from './direct-tcpip.ts';

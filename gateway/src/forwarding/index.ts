export { handleDirectTcpip, relay } from './direct-tcpip.ts';
export { handleDirectStreamlocal } from './streamlocal.ts';
export { RemoteForwards } from './remote-forward.ts';
export { GUEST_AGENT_PATH, connectThroughAgent, listenThroughAgent, shellWord, type AgentListener } from './guest-agent.ts';
export { sessionForwards, x11CookieBytes, xauthorityEntry, type SessionForwards } from './session-forwards.ts';

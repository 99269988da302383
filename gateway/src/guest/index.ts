export { SESSION_MARKER_VARIABLE, deliverSignal, newSessionMarker, signalNumber, signalScript, statusAfterSignals } from './process-signal.ts';

export { BASELINE_FILE, BaselineSchema, loadPolicy, parseBaseline, PolicyError } from './load.ts';
export type { Baseline, Policy } from './load.ts';
export { renderConfig } from './render.ts';

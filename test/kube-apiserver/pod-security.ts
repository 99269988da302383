import type { KubeObject } from './store.ts';

/** Pod Security Standards check (placeholder until the checker lands). */
export function checkPodSecurity(_level: 'baseline' | 'restricted', _pod: KubeObject): string[] {
  return [];
}

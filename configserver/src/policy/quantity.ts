/**
 * Kubernetes resource quantities, for the two resources a session has: memory in bytes and CPU
 * in millicores. The Docker backend needs the same numbers as bytes and nano-CPUs, so profiles
 * state a resource once, in Kubernetes' notation, and both renderings derive from it.
 */
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
const DECIMAL: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };

export const MEMORY_PATTERN = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/;
export const CPU_PATTERN = /^(\d+(?:\.\d+)?)(m)?$/;

/** "512Mi" → 536870912; undefined when it is not a memory quantity. */
export function memoryBytes(quantity: string | number): number | undefined {
  if (typeof quantity === 'number') return Number.isSafeInteger(quantity) && quantity > 0 ? quantity : undefined;
  const match = MEMORY_PATTERN.exec(quantity);
  if (!match) return undefined;
  const unit = match[2] ?? '';
  const factor = BINARY[unit] ?? DECIMAL[unit] ?? 1;
  return Math.round(Number(match[1]) * factor);
}

/** "500m" → 500, "2" → 2000; undefined when it is not a CPU quantity. */
export function cpuMillis(quantity: string | number): number | undefined {
  if (typeof quantity === 'number') return quantity > 0 ? Math.round(quantity * 1000) : undefined;
  const match = CPU_PATTERN.exec(quantity);
  if (!match) return undefined;
  return match[2] ? Math.round(Number(match[1])) : Math.round(Number(match[1]) * 1000);
}

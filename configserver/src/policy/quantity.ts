/**
 * Kubernetes resource quantities, parsed as k8s.io/apimachinery/pkg/api/resource parses them:
 * a signed decimal number (`1`, `1.5`, `.5`, `1.`), then a binary suffix (Ki … Ei), a decimal
 * suffix (m, k, M, G, T, P, E) or a decimal exponent (`3e10`, `1E-3`). A form the engine could
 * not read would otherwise skip the ceiling check, so every form reads, or the quantity is refused.
 * Memory is in bytes and CPU in millicores, both rounded up as Quantity.Value()/MilliValue() do;
 * the Docker backend derives bytes and nano-CPUs from them, so a profile states a resource once.
 */
const SUFFIX: Record<string, number> = {
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** `E` alone is exa; `E` followed by a number is an exponent (upstream reads it the same way). */
const QUANTITY = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)|[eE]([+-]?[0-9]+))?$/;

export const QUANTITY_HINT = 'a Kubernetes quantity such as "500m", "2", "1.5Gi", "512Mi", "1k" or "3e9"';

/** The value in base units (bytes, cores), or undefined when Kubernetes would not parse it. */
export function parseQuantity(quantity: string | number): number | undefined {
  if (typeof quantity === 'number') return Number.isFinite(quantity) ? quantity : undefined;
  // The API server trims the JSON string before parsing it.
  const match = QUANTITY.exec(quantity.trim());
  if (!match) return undefined;
  const value = match[3] !== undefined ? Number(`${match[1]}e${match[3]}`) : Number(match[1]) * (match[2] ? SUFFIX[match[2]]! : 1);
  return Number.isFinite(value) ? value : undefined;
}

export const isQuantity = (quantity: string | number): boolean => parseQuantity(quantity) !== undefined;

/** "512Mi" → 536870912 (rounded up to a whole byte); undefined when it does not parse or is negative. */
export function memoryBytes(quantity: string | number): number | undefined {
  const value = parseQuantity(quantity);
  return value === undefined || value < 0 ? undefined : Math.ceil(value);
}

/** "500m" → 500, "2" → 2000 (rounded up to a whole millicore); undefined when it does not parse or is negative. */
export function cpuMillis(quantity: string | number): number | undefined {
  const value = parseQuantity(quantity);
  // Round away the float error of `0.1 * 1000` before rounding up, as upstream's exact decimals would.
  return value === undefined || value < 0 ? undefined : Math.ceil(Number((value * 1000).toPrecision(15)));
}

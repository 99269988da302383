import ipaddr from 'ipaddr.js';

/**
 * The network block a client address is counted under (OpenSSH PerSourceNetBlockSize): one
 * host owns a whole IPv6 /64, so counting single IPv6 addresses would give it 2^64 sources.
 */
export function sourceBlock(address: string, ipv4Bits: number, ipv6Bits: number): string {
  if (!ipaddr.isValid(address)) return address;
  let parsed = ipaddr.parse(address);
  if (parsed instanceof ipaddr.IPv6 && parsed.isIPv4MappedAddress()) parsed = parsed.toIPv4Address();
  const bits = parsed.kind() === 'ipv4' ? ipv4Bits : ipv6Bits;
  const total = parsed.kind() === 'ipv4' ? 32 : 128;
  const bytes = parsed.toByteArray();
  for (let bit = bits; bit < total; bit += 1) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return `${ipaddr.fromByteArray(bytes).toString()}/${bits}`;
}

/** Whether `address` falls in one of `cidrs` (e.g. a monitoring probe exempt from penalties). */
export function inAnyRange(address: string, cidrs: readonly string[]): boolean {
  if (cidrs.length === 0 || !ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed instanceof ipaddr.IPv6 && parsed.isIPv4MappedAddress()) parsed = parsed.toIPv4Address();
  return cidrs.some((cidr) => {
    const range = ipaddr.parseCIDR(cidr);
    return range[0].kind() === parsed.kind() && parsed.match(range);
  });
}

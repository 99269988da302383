/**
 * Logged-in connections per authenticated user on this gateway instance, for the policy's
 * `maxConnectionsPerUser`. A slot is taken at login and given back when the connection closes.
 */
export class UserConnections {
  private readonly counts = new Map<string, number>();

  /** Takes a slot unless `limit` are taken; returns how to give it back, or undefined. */
  take(username: string, limit: number | undefined): (() => void) | undefined {
    const count = this.counts.get(username) ?? 0;
    if (limit !== undefined && count >= limit) return undefined;
    this.counts.set(username, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(username) ?? 1) - 1;
      if (left <= 0) this.counts.delete(username);
      else this.counts.set(username, left);
    };
  }
}

import { GatewayError } from '../errors.ts';

/** A taken slot, or the refusal the user is shown. */
export type ConnectionSlot = { readonly taken: true; readonly release: () => void } | { readonly taken: false; readonly refusal: GatewayError };

/** Where logged-in connections are counted: this process, or the cluster primary for every worker. */
export interface ConnectionSlots {
  take(username: string, limit: number | undefined): ConnectionSlot | Promise<ConnectionSlot>;
}

/**
 * Logged-in connections on this gateway instance, per authenticated user (the policy's
 * `maxConnectionsPerUser`, under the gateway's ceiling) and in total (`ssh.maxConnections`).
 * A slot is taken at login and given back when the connection closes.
 */
export class UserConnections implements ConnectionSlots {
  private readonly counts = new Map<string, number>();
  private total = 0;

  constructor(private readonly maxConnections: number = Number.POSITIVE_INFINITY) {}

  /** Takes a slot unless the user holds `limit` or the gateway `maxConnections`. */
  take(username: string, limit: number | undefined): ConnectionSlot {
    const count = this.counts.get(username) ?? 0;
    if (limit !== undefined && count >= limit) {
      return { taken: false, refusal: new GatewayError('SECURITY_MAX_CONNECTIONS_PER_USER', `Login refused: you already hold as many connections as allowed (${limit}).`) };
    }
    if (this.total >= this.maxConnections) {
      return { taken: false, refusal: new GatewayError('SECURITY_MAX_CONNECTIONS', 'Login refused: this gateway is at its connection limit; try again later.') };
    }
    this.counts.set(username, count + 1);
    this.total += 1;
    let released = false;
    return {
      taken: true,
      release: () => {
        if (released) return;
        released = true;
        this.total -= 1;
        const left = (this.counts.get(username) ?? 1) - 1;
        if (left <= 0) this.counts.delete(username);
        else this.counts.set(username, left);
      },
    };
  }
}

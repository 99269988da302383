import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, type Registry } from 'prom-client';
import type { AuditConfig } from '@portcullis/wire';
import { errorFields, type Logger } from '../observability/index.ts';
import type { ConnectionIdentity } from '../identity/connection-identity.ts';
import type { AuditSettings } from '../settings/audit-settings.ts';
import { ConnectionRecorder } from './record/connection-recorder.ts';
import { FileRecordingStore } from './store/file-store.ts';
import type { RecordingStore } from './store/recording-store.ts';
import { loadS3Credentials, S3RecordingStore } from './store/s3-store.ts';
import type { ConnectionTap } from './record/tap.ts';
import { RecordingQuota } from './record/recording-quota.ts';
import { startPlayerServer } from './tools/player/player-server.ts';

/** The gateway's recorder: its stores, its metrics, and one ConnectionRecorder per connection. */
export class AuditService {
  private readonly failures: Counter<'reason'>;
  private player: { port: number; close: () => Promise<void> } | undefined;
  private readonly quota: RecordingQuota | undefined;

  private constructor(
    private readonly settings: AuditSettings | undefined,
    private readonly stores: Partial<Record<AuditConfig['storage'], RecordingStore>>,
    private readonly log: Logger,
    registry?: Registry,
  ) {
    this.failures = new Counter({
      name: 'portcullis_audit_failures_total',
      help: 'Recordings that could not be started (reason unavailable), broke mid-session (reason write) or reached their quota (reason quota).',
      labelNames: ['reason'],
      registers: registry ? [registry] : [],
    });
    // The volume watched is where bytes land on this host: the directory, else S3's staging.
    const directory = settings?.directory ?? settings?.stagingDirectory;
    this.quota = settings ? new RecordingQuota({ maxRecordingBytes: settings.maxRecordingBytes, minFreeBytes: settings.minFreeBytes, ...(directory ? { directory } : {}) }) : undefined;
  }

  /** Builds the stores from the gateway settings and seals what a crashed gateway left open. */
  /** `recover` and `player` are off in cluster workers: the primary does each once for all. */
  static async start(settings: AuditSettings | undefined, log: Logger, registry?: Registry, once: { recover: boolean; player: boolean } = { recover: true, player: true }): Promise<AuditService> {
    const stores: Partial<Record<AuditConfig['storage'], RecordingStore>> = {};
    if (settings?.directory) stores.file = new FileRecordingStore(settings.directory);
    if (settings?.s3) {
      const s3 = settings.s3;
      stores.s3 = new S3RecordingStore({
        ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
        region: s3.region,
        bucket: s3.bucket,
        prefix: s3.prefix,
        forcePathStyle: s3.forcePathStyle,
        partSize: s3.partSize,
        timeoutMs: s3.timeout,
        ...(s3.credentialsFile ? { credentials: await loadS3Credentials(s3.credentialsFile) } : {}),
        stagingDirectory: settings.stagingDirectory ?? join(settings.directory ?? '.', '.staging'),
      });
    }
    const service = new AuditService(settings, stores, log, registry);
    if (once.recover) await service.recover();
    if (settings?.player && once.player) {
      const kind = settings.player.storage ?? (stores.file ? 'file' : 's3');
      const store = stores[kind];
      if (!store) throw new Error(`audit.player shows "${kind}" recordings, but audit has no ${kind === 'file' ? 'directory' : 's3'} configured`);
      const at = settings.player.listen.lastIndexOf(':');
      const host = settings.player.listen.slice(0, at).replace(/^\[|\]$/g, '');
      const tls = settings.player.tls;
      const [cert, key, ca] = await Promise.all([tls.certFile, tls.keyFile, tls.clientCaFile].map((file) => readFile(file)));
      service.player = await startPlayerServer({ host, port: Number(settings.player.listen.slice(at + 1)), store, pageSize: settings.player.pageSize, tls: { cert: cert!, key: key!, ca: ca! }, log });
      log.info({ code: 'AUDIT_PLAYER_LISTENING', address: host, port: service.player.port }, 'recording player listening');
    }
    return service;
  }

  store(kind: AuditConfig['storage']): RecordingStore | undefined {
    return this.stores[kind];
  }

  private async recover() {
    for (const [kind, store] of Object.entries(this.stores)) {
      try {
        for (const key of await store.recover()) this.log.info({ code: 'AUDIT_RECOVERED', storage: kind, key }, 'interrupted recording sealed');
      } catch (error) {
        // Staging is kept for the next start; new sessions are not held up by an old one.
        this.log.error({ code: 'AUDIT_RECOVERY_FAILED', storage: kind, ...errorFields(error) }, 'could not finish interrupted recordings');
      }
    }
  }

  /** A tap for one connection. `end` closes the connection when a required recording breaks. */
  tap(identity: ConnectionIdentity, log: Logger, end: () => void): ConnectionTap {
    return new ConnectionRecorder({
      identity,
      storeFor: (kind) => this.stores[kind],
      flushIntervalMs: this.settings?.flushInterval ?? 5_000,
      maxChunkBytes: this.settings?.maxChunkBytes ?? 1024 * 1024,
      ...(this.settings?.maxPendingBytes !== undefined ? { maxPendingBytes: this.settings.maxPendingBytes } : {}),
      log,
      onFailure: (reason) => this.failures.inc({ reason }),
      onRequiredFailure: end,
      ...(this.quota ? { quota: this.quota } : {}),
    });
  }

  async close(): Promise<void> {
    await this.player?.close();
    await Promise.all(Object.values(this.stores).map((store) => store.close()));
  }
}

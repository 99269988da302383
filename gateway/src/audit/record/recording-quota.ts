import { statfs } from 'node:fs/promises';

/** Which bound a recording hit. */
export type QuotaScope = 'session' | 'volume';

export interface RecordingQuotaSettings {
  /** Bytes one connection's recording may take (raw, before compression). */
  readonly maxRecordingBytes: number;
  /** Free bytes kept on the recording directory's filesystem; below it nothing more is recorded. */
  readonly minFreeBytes: number;
  /** The directory whose filesystem is watched (file storage); none for S3. */
  readonly directory?: string;
}

/** How often the free space is asked for while recordings write. */
const FREE_SPACE_PROBE_MS = 1_000;

/**
 * Bounds what recordings may take, per connection and on the volume, so a session that
 * prints without end (`head -c 300000000 /dev/urandom`) can never fill the gateway's disk.
 * The free-space reading is refreshed in the background at most once a second; between two
 * readings the per-recording bound keeps what can slip through small.
 */
export class RecordingQuota {
  private freeBytes = Number.POSITIVE_INFINITY;
  private probing: Promise<void> | undefined;
  private probedAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly settings: RecordingQuotaSettings,
    private readonly free: (directory: string) => Promise<number> = freeSpace,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Reads the free space now (at start, and before each recording begins). */
  async refresh(): Promise<void> {
    if (!this.settings.directory) return;
    this.probedAt = this.now();
    try {
      this.freeBytes = await this.free(this.settings.directory);
    } catch {
      // An unreadable filesystem is the store's failure to report, not the quota's.
    }
  }

  /** Whether a recording that has taken `recordedBytes` is over a bound, and which. */
  exceeded(recordedBytes: number): QuotaScope | undefined {
    if (recordedBytes > this.settings.maxRecordingBytes) return 'session';
    if (this.settings.directory && this.now() - this.probedAt >= FREE_SPACE_PROBE_MS && !this.probing) {
      this.probing = this.refresh().finally(() => (this.probing = undefined));
    }
    return this.volumeLow ? 'volume' : undefined;
  }

  get volumeLow(): boolean {
    return this.freeBytes < this.settings.minFreeBytes;
  }
}

async function freeSpace(directory: string): Promise<number> {
  const stats = await statfs(directory);
  return stats.bavail * stats.bsize;
}

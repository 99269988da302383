import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { PkiPaths } from './create-pki.ts';

export type Program = 'authserver' | 'configserver' | 'gateway';

/**
 * Copies to `outDir/<program>/` only what that program needs: the CA certificate and its
 * own certificate and key. The CA key never leaves the PKI folder, so no running program
 * can mint certificates. File names stay those of the PKI folder.
 */
export async function exportProgramBundles(paths: PkiPaths, outDir: string, programs: readonly Program[]): Promise<string[]> {
  const written: string[] = [];
  for (const program of programs) {
    const dir = join(outDir, program);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await copyFile(paths.ca.cert, join(dir, basename(paths.ca.cert)));
    await copyFile(paths[program].cert, join(dir, basename(paths[program].cert)));
    await copyFile(paths[program].key, join(dir, basename(paths[program].key)));
    written.push(dir);
  }
  return written;
}

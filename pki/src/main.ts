#!/usr/bin/env -S node --import tsx
import { parseArgs } from 'node:util';
import { ensurePki } from './create-pki.ts';
import { exportProgramBundles, type Program } from './export-bundles.ts';

const USAGE = 'usage: pki init --dir DIR [--san NAME]... [--validity-days N] [--export OUT]';
const PROGRAMS: readonly Program[] = ['authserver', 'configserver', 'gateway'];

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      san: { type: 'string', multiple: true },
      'validity-days': { type: 'string' },
      /** Also write OUT/<program>/ with only what each program needs (no CA key). */
      export: { type: 'string' },
    },
  });
  if (positionals[0] !== 'init' || positionals.length !== 1 || !values.dir) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const days = values['validity-days'] === undefined ? undefined : Number(values['validity-days']);
  if (days !== undefined && !(Number.isInteger(days) && days > 0)) {
    process.stderr.write(`--validity-days must be a positive integer\n${USAGE}\n`);
    return 2;
  }
  const { created, paths } = await ensurePki(values.dir, {
    extraSans: values.san ?? [],
    ...(days === undefined ? {} : { validityDays: days }),
  });
  process.stdout.write(
    created
      ? `pki: created CA, authserver, configserver and gateway certificates in ${paths.dir}\n`
      : `pki: ${paths.ca.cert} already present, nothing changed\n`,
  );
  if (values.export) {
    const dirs = await exportProgramBundles(paths, values.export, PROGRAMS);
    process.stdout.write(`pki: wrote each program's certificate and key, without the CA key, to ${dirs.join(', ')}\n`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`pki: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

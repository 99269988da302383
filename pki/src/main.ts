#!/usr/bin/env -S node --import tsx
import { parseArgs } from 'node:util';
import { ensurePki } from './create-pki.ts';
import { exportProgramBundles, type Program } from './export-bundles.ts';
import { issueAuditor, IssueError, issuePlayer, writeIssued } from './issue.ts';

const USAGE = `usage: pki <command> [--dir DIR] ...     (DIR defaults to $PORTCULLIS_PKI_DIR)
  init [--san NAME]... [--validity-days N] [--export OUT]   the CA, the programs' certificates (once)
  auditor NAME [--out OUT] [--validity-days N]              a client certificate for the recording player
  player [--san NAME]... [--out OUT] [--validity-days N]    the recording player's server certificate
Without --out, auditor and player print the key and the certificate (PEM) on stdout.`;
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
      out: { type: 'string' },
    },
  });
  const [command, name, ...extra] = positionals;
  const dir = values.dir ?? process.env.PORTCULLIS_PKI_DIR;
  const days = values['validity-days'] === undefined ? undefined : Number(values['validity-days']);
  if (days !== undefined && !(Number.isInteger(days) && days > 0)) {
    process.stderr.write(`--validity-days must be a positive integer\n${USAGE}\n`);
    return 2;
  }
  const wantsName = command === 'auditor';
  if (!dir || !command || !['init', 'auditor', 'player'].includes(command) || extra.length > 0 || (wantsName ? !name : name !== undefined)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (command === 'auditor' || command === 'player') {
    const issued = command === 'auditor' ? await issueAuditor(dir, name!, days) : await issuePlayer(dir, values.san ?? [], days);
    const fileName = command === 'auditor' ? `auditor-${name!}` : 'audit-player';
    if (values.out) {
      const files = await writeIssued(dir, values.out, fileName, issued);
      process.stdout.write(`pki: wrote ${files.join(', ')}\n`);
    } else process.stdout.write(`${issued.keyPem}${issued.certPem}`);
    return 0;
  }
  const { created, paths } = await ensurePki(dir, {
    extraSans: values.san ?? [],
    ...(days === undefined ? {} : { validityDays: days }),
  });
  process.stdout.write(created ? `pki: created CA, authserver, configserver and gateway certificates in ${paths.dir}\n` : `pki: ${paths.ca.cert} already present, nothing changed\n`);
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
    process.stderr.write(`pki: ${err instanceof IssueError || err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

#!/usr/bin/env -S node --import tsx
import { usersMain } from './users-cli.ts';

usersMain(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  ...(process.env.PORTCULLIS_USERS_FILE ? { defaultUsersFile: process.env.PORTCULLIS_USERS_FILE } : {}),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`portcullis users: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startFakeWebhook } from '../helpers/fake-webhook.ts';
import { hardenedExecution } from '../helpers/fake-config.ts';
import { REFERENCE_DIR } from '../helpers/reference.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

type Json = Record<string, unknown>;

/**
 * A webhook server that is not ours: written here from ContainerSSH's OpenAPI document alone,
 * the way an integrator would. Like ContainerSSH's Go library it routes auth calls on the last
 * path segment, and it checks each request against the document's required fields and types.
 */
function containerSshStyleServer(spec: Json) {
  const definitions = spec.definitions as Record<string, Json>;
  const bodySchema = (path: string): Json => {
    const post = ((spec.paths as Json)[path] as Json).post as Json;
    const parameter = (post.parameters as Json[]).find((p) => p.in === 'body')!;
    const ref = String((parameter.schema as Json).$ref)
      .split('/')
      .at(-1)!;
    return definitions[ref]!;
  };
  const violations: string[] = [];
  const seen: Array<{ path: string; body: Json }> = [];
  const check = (path: string, body: Json) => {
    const schema = bodySchema(path);
    for (const field of (schema.required as string[]) ?? []) if (!(field in body)) violations.push(`${path}: ${field} missing`);
    for (const [field, value] of Object.entries(body)) {
      const property = (schema.properties as Record<string, Json>)[field];
      if (!property) violations.push(`${path}: unknown field ${field}`);
      else if (property.type && property.type !== (typeof value === 'object' ? 'object' : typeof value)) violations.push(`${path}: ${field} is ${typeof value}`);
    }
  };
  let configAnswer: Json = { config: { backend: 'docker', docker: { execution: hardenedExecution() } } };
  return {
    violations,
    seen,
    answerConfig: (answer: Json) => (configAnswer = answer),
    handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      let text = '';
      req.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      req.on('end', () => {
        const body = JSON.parse(text) as Json;
        const last = `/${new URL(req.url ?? '/', 'https://x').pathname.split('/').at(-1)}`;
        const path = ['/password', '/pubkey', '/authz'].includes(last) ? last : '/config';
        seen.push({ path, body });
        check(path, body);
        if (req.headers['content-type'] !== 'application/json') violations.push(`${path}: content-type ${req.headers['content-type']}`);
        const answer = path === '/config' ? configAnswer : { success: true, authenticatedUsername: path === '/authz' ? body.authenticatedUsername : body.username };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
    },
  };
}

describe('the gateway works with a ContainerSSH-style webhook server written from the OpenAPI document', () => {
  let world: World;
  let server: ReturnType<typeof containerSshStyleServer>;
  let fake: Awaited<ReturnType<typeof startFakeWebhook>> | undefined;

  before(async () => {
    const spec = JSON.parse(await readFile(`${REFERENCE_DIR}/containerssh/containerssh-authconfig.json`, 'utf8')) as Json;
    server = containerSshStyleServer(spec);
    world = await startWorld({
      gateway: { auth: { authz: true } },
      beforeGateway: async (certsDir) => {
        fake = await startFakeWebhook({ cert: join(certsDir, 'configserver.crt'), key: join(certsDir, 'configserver.key'), ca: join(certsDir, 'ca.crt') }, server.handler);
        // One server for both, as ContainerSSH's sample server is; the config URL is used as given.
        return { authUrl: fake.url('/containerssh/auth'), configserverUrl: fake.url('/containerssh/hook/config-endpoint') };
      },
    });
  });
  after(async () => {
    await world.stop();
    await fake?.close();
  });

  const login = () => runSsh({ port: world.sshPort, username: world.username, password: 'anything', command: 'echo third-party-ok', timeoutMs: 60_000 });

  test('password, authz and config calls follow the document, and the user gets a shell', E2E, async () => {
    const result = await login();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'third-party-ok\n');
    assert.deepEqual(
      server.seen.map((call) => call.path),
      ['/password', '/authz', '/config'],
    );
    assert.deepEqual(server.violations, []);
    const [password, authz, config] = server.seen.map((call) => call.body);
    assert.equal(Buffer.from(String(password!.passwordBase64), 'base64').toString(), 'anything');
    assert.match(String(password!.connectionId), /^[0-9a-f]{32}$/);
    assert.match(String(password!.remoteAddress), /^127\.0\.0\.1:\d+$/);
    assert.match(String(password!.clientVersion), /^SSH-2\.0-OpenSSH/);
    assert.equal(authz!.authenticatedUsername, world.username);
    assert.deepEqual((config!.metadata as Json).authMethod, { value: 'password', sensitive: false });
  });

  test('config: {} (ContainerSSH would fall back to its file) is refused with a clear message', E2E, async () => {
    server.answerConfig({ config: {} });
    const result = await login();
    assert.equal(result.code, 255);
    assert.match(result.stderr, /configuration names no backend.*CONFIG_UNSUPPORTED/);
  });

  test("a ContainerSSH security section is enforced: forceCommand runs instead of the client's command", E2E, async () => {
    server.answerConfig({
      config: { backend: 'docker', docker: { execution: hardenedExecution() }, security: { forceCommand: 'echo "forced instead of: $SSH_ORIGINAL_COMMAND"' } },
    });
    const result = await login();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'forced instead of: echo third-party-ok\n');
  });

  test('the kubernetes backend (not in this gateway) is refused by name', E2E, async () => {
    server.answerConfig(JSON.parse(await readFile(`${REFERENCE_DIR}/containerssh/examples/derived/config-response-kubernetes.json`, 'utf8')) as Json);
    const result = await login();
    assert.equal(result.code, 255);
    assert.match(result.stderr, /no kubernetes backend.*CONFIG_UNSUPPORTED/);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapsForWebhook, mergeConnectionMaps, withGatewayMetadata } from './connection-maps.ts';

test('a later step overrides keys but never drops the ones an earlier step set', () => {
  const merged = mergeConnectionMaps(
    { metadata: { team: { value: 'a', sensitive: false }, token: { value: 't', sensitive: true } } },
    { metadata: { team: { value: 'b', sensitive: false } }, environment: { X: { value: '1', sensitive: false } } },
  );
  assert.deepEqual(merged.metadata, { team: { value: 'b', sensitive: false }, token: { value: 't', sensitive: true } });
  assert.deepEqual(merged.environment, { X: { value: '1', sensitive: false } });
  assert.deepEqual(merged.files, {});
});

test('auth → authz → config: each step adds, none drops an earlier key', () => {
  const auth = { metadata: { a: { value: '1', sensitive: false } }, files: { '/f': { value: 'eA==', sensitive: true } } };
  const authz = { metadata: { b: { value: '2', sensitive: false } } };
  const config = { metadata: { a: { value: '3', sensitive: false } }, environment: { E: { value: 'e', sensitive: false } } };
  const merged = mergeConnectionMaps(mergeConnectionMaps(auth, authz), config);
  assert.deepEqual(Object.keys(merged.metadata).sort(), ['a', 'b']);
  assert.equal(merged.metadata.a!.value, '3');
  assert.deepEqual(Object.keys(merged.files), ['/f']);
  assert.deepEqual(Object.keys(merged.environment), ['E']);
});

test('sensitive entries are not sent to the next webhook unless configured; empty maps are left out', () => {
  const maps = {
    metadata: { team: { value: 'x', sensitive: false }, token: { value: 'secret', sensitive: true } },
    environment: { TOKEN: { value: 'secret', sensitive: true } },
    files: {},
  };
  assert.deepEqual(mapsForWebhook(maps, false), { metadata: { team: { value: 'x', sensitive: false } } });
  assert.deepEqual(mapsForWebhook(maps, true), {
    metadata: maps.metadata,
    environment: maps.environment,
  });
});

test("the gateway's authMethod overrides a webhook's claim of the same name", () => {
  const maps = withGatewayMetadata({ metadata: { authMethod: { value: 'keyboard-interactive', sensitive: false } } }, { authMethod: 'publickey' });
  assert.deepEqual(maps.metadata.authMethod, { value: 'publickey', sensitive: false });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeConnectionMaps } from './connection-maps.ts';

test('a later step overrides keys but never drops the ones an earlier step set', () => {
  const merged = mergeConnectionMaps(
    { metadata: { team: { value: 'a', sensitive: false }, token: { value: 't', sensitive: true } } },
    { metadata: { team: { value: 'b', sensitive: false } }, environment: { X: { value: '1', sensitive: false } } },
  );
  assert.deepEqual(merged.metadata, { team: { value: 'b', sensitive: false }, token: { value: 't', sensitive: true } });
  assert.deepEqual(merged.environment, { X: { value: '1', sensitive: false } });
  assert.deepEqual(merged.files, {});
});

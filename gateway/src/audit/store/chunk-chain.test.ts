import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkChain, formatChainLines, verifyChain, type ChainLine } from './chunk-chain.ts';

const KEY = '20261123T114653Z-0123456789abcdef0123456789abcdef/audit.cslog';

function sealed(chunks: Buffer[]) {
  const chain = new ChunkChain(KEY);
  const lines: ChainLine[] = [{ kind: 'start', version: 1, key: KEY, format: 'containerssh-binary', startedAt: new Date().toISOString() }];
  for (const chunk of chunks) lines.push(chain.append(chunk));
  lines.push(chain.end(true));
  return { data: Buffer.concat(chunks), index: formatChainLines(lines) };
}

test('an untouched stream verifies', () => {
  const { data, index } = sealed([Buffer.from('first chunk'), Buffer.from('second')]);
  const result = verifyChain(KEY, data, index);
  assert.deepEqual(result.problems, []);
  assert.equal(result.chunks, 2);
});

test('every single flipped byte is detected, naming the chunk', () => {
  const { data, index } = sealed([Buffer.from('first chunk'), Buffer.from('second')]);
  for (let at = 0; at < data.length; at++) {
    const edited = Buffer.from(data);
    edited[at] = edited[at]! ^ 0x01;
    const result = verifyChain(KEY, edited, index);
    assert.equal(result.ok, false);
    assert.match(result.problems.join('\n'), new RegExp(`chunk ${at < 11 ? 1 : 2} .* was changed`));
  }
});

test('an index edited to match an edited chunk breaks the chain', () => {
  const { index } = sealed([Buffer.from('aaaa'), Buffer.from('bbbb')]);
  const edited = Buffer.from('aaaXbbbb');
  const forged = sealed([Buffer.from('aaaX'), Buffer.from('bbbb')]).index.split('\n');
  // Keep the original second link, swap in the forged first chunk's digest only.
  const lines = index.split('\n');
  const first = JSON.parse(forged[1]!) as { sha256: string };
  const original = JSON.parse(lines[1]!) as Record<string, unknown>;
  lines[1] = JSON.stringify({ ...original, sha256: first.sha256 });
  const result = verifyChain(KEY, edited, lines.join('\n'));
  assert.equal(result.ok, false);
  assert.match(result.problems.join('\n'), /chain link/);
});

test('bytes appended or cut off are detected; an index for another key is refused', () => {
  const { data, index } = sealed([Buffer.from('abc')]);
  assert.match(verifyChain(KEY, Buffer.concat([data, Buffer.from('x')]), index).problems.join('\n'), /index covers 3/);
  assert.equal(verifyChain(KEY, data.subarray(0, 2), index).ok, false);
  assert.equal(verifyChain(KEY.replace('audit', 'other'), data, index).ok, false);
});

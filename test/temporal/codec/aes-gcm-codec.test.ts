// The payload codec on its own: what it writes hides the payload, it reads back what it wrote, payloads it did not
// write pass through, rotation reads old payloads, and every bad key or config is a clear error.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import { AesGcmCodec, ENCRYPTED_ENCODING, KEY_ID_METADATA } from '../../../temporal/codec/aes-gcm-codec.ts';
import { loadCodecKeys } from '../../../temporal/codec/codec-keys.ts';
import {
  codecSettingsFromEnv,
  codecSettingsToEnv,
  loadCodec,
} from '../../../temporal/codec/codec-settings.ts';
import { devCodecSettings } from '../../../temporal/codec/dev-key.ts';

const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-codec-'));
after(() => rm(dir, { recursive: true, force: true }));

const SECRET = 'join-token-5f2c9a71d4e3';
const k = (id: string) => ({ id, key: randomBytes(32) });
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString('utf8');

test('a payload leaves encrypted under the current key and comes back whole', async () => {
  const codec = new AesGcmCodec([k('k1')]);
  const plain = defaultPayloadConverter.toPayload({ config: `token=${SECRET}` });
  const [enc] = await codec.encode([plain]);
  assert.equal(text(enc!.metadata!.encoding), ENCRYPTED_ENCODING);
  assert.equal(text(enc!.metadata![KEY_ID_METADATA]), 'k1');
  assert.ok(!Buffer.from(enc!.data!).includes(SECRET));
  const [dec] = await codec.decode([enc!]);
  assert.deepEqual(defaultPayloadConverter.fromPayload(dec!), { config: `token=${SECRET}` });
  // Two encryptions of one payload differ (a fresh IV each time).
  const [again] = await codec.encode([plain]);
  assert.notDeepEqual(Buffer.from(again!.data!), Buffer.from(enc!.data!));
});

test('payloads without its encoding pass through (older histories, the replay corpus)', async () => {
  const codec = new AesGcmCodec([k('k1')]);
  const plain = defaultPayloadConverter.toPayload('hello');
  assert.deepEqual(await codec.decode([plain]), [plain]);
});

test('rotation: the new key encrypts, the old one still decrypts; a key not listed is named', async () => {
  const k1 = k('k1');
  const k2 = k('k2');
  const [old] = await new AesGcmCodec([k1]).encode([defaultPayloadConverter.toPayload(SECRET)]);
  const rotated = new AesGcmCodec([k2, k1]);
  assert.equal(defaultPayloadConverter.fromPayload((await rotated.decode([old!]))[0]!), SECRET);
  const [fresh] = await rotated.encode([defaultPayloadConverter.toPayload(SECRET)]);
  assert.equal(text(fresh!.metadata![KEY_ID_METADATA]), 'k2');
  await assert.rejects(
    new AesGcmCodec([k1]).decode([fresh!]),
    /payload encrypted with key k2, not in keys \[k1\]/,
  );
});

test('a key under the right id but the wrong bytes, or a relabelled payload, fails authentication', async () => {
  const [enc] = await new AesGcmCodec([k('k1')]).encode([defaultPayloadConverter.toPayload(SECRET)]);
  await assert.rejects(new AesGcmCodec([k('k1')]).decode([enc!]), /does not authenticate under key k1/);
  const a = k('a');
  const relabelled = { ...enc!, metadata: { ...enc!.metadata, [KEY_ID_METADATA]: Buffer.from('a') } };
  await assert.rejects(new AesGcmCodec([a]).decode([relabelled]), /does not authenticate under key a/);
});

test('keys by reference: hex, base64 or raw files and variables; short or missing ones are refused', async () => {
  const key = randomBytes(32);
  await writeFile(path.join(dir, 'hex'), key.toString('hex') + '\n');
  await writeFile(path.join(dir, 'b64'), key.toString('base64'));
  await writeFile(path.join(dir, 'raw'), key);
  await writeFile(path.join(dir, 'short'), randomBytes(16).toString('hex'));
  const env = { K: key.toString('hex') };
  const keys = await loadCodecKeys(
    [
      { id: 'h', file: path.join(dir, 'hex') },
      { id: 'b', file: path.join(dir, 'b64') },
      { id: 'r', file: path.join(dir, 'raw') },
      { id: 'e', env: 'K' },
    ],
    env,
  );
  for (const x of keys) assert.deepEqual(x.key, key, x.id);
  await assert.rejects(
    loadCodecKeys([{ id: 's', file: path.join(dir, 'short') }], {}),
    /key s .* is not a 32-byte key/,
  );
  await assert.rejects(
    loadCodecKeys([{ id: 'm', file: path.join(dir, 'missing') }], {}),
    /cannot read key m from/,
  );
  await assert.rejects(loadCodecKeys([{ id: 'v', env: 'NOPE' }], {}), /variable NOPE is not set/);
  await assert.rejects(loadCodecKeys([], {}), /enabled with no keys/);
  await assert.rejects(
    loadCodecKeys(
      [
        { id: 'x', env: 'K' },
        { id: 'x', env: 'K' },
      ],
      env,
    ),
    /key id x is listed twice/,
  );
});

test('settings from the environment: keys in order, off, and contradictions refused', async () => {
  assert.equal(codecSettingsFromEnv({}), undefined);
  assert.deepEqual(codecSettingsFromEnv({ VAQUERO_CODEC: 'off' }), { off: true });
  const s = codecSettingsFromEnv({ VAQUERO_CODEC_KEYS: 'k2=file:/run/k2, k1=env:OLD' });
  assert.deepEqual(s, {
    keys: [
      { id: 'k2', file: '/run/k2' },
      { id: 'k1', env: 'OLD' },
    ],
  });
  assert.deepEqual(codecSettingsFromEnv(codecSettingsToEnv(s!)), s);
  assert.throws(() => codecSettingsFromEnv({ VAQUERO_CODEC: 'on' }), /no keys/);
  assert.throws(
    () => codecSettingsFromEnv({ VAQUERO_CODEC: 'off', VAQUERO_CODEC_KEYS: 'a=env:A' }),
    /choose one/,
  );
  assert.throws(
    () => codecSettingsFromEnv({ VAQUERO_CODEC_KEYS: 'a=/k' }),
    /not ID=file:PATH or ID=env:NAME/,
  );
  assert.deepEqual((await loadCodec({ off: true })).dataConverter, {});
});

test('the dev key: made once, mode 0600, never overwritten', async () => {
  const d = path.join(dir, 'dev');
  const s1 = await devCodecSettings(d);
  const file = s1.keys[0]!.file;
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const first = await loadCodec(s1, {});
  const s2 = await devCodecSettings(d);
  const [enc] = await first.codec!.encode([defaultPayloadConverter.toPayload(SECRET)]);
  const second = await loadCodec(s2, {});
  assert.equal(defaultPayloadConverter.fromPayload((await second.codec!.decode([enc!]))[0]!), SECRET);
});

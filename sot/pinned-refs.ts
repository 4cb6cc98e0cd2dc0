// Moving refs pinned per SoT revision. A `config:` document (or a site's `release_tag`) may name a branch; resolved
// afresh at every load, one revision would render from whatever the branch says at that moment, so a plan and its
// rollout, or two workers preparing one rollout, could render different commits. pinRefs() wraps the externals of
// one revision: the first load of a ref records the commit it resolved to in the revision's pin folder, and every
// later load of that revision (plan, rollout preparation, each worker rendering) takes the recorded commit. A new
// revision has its own pin folder, so it resolves the branch anew.
//
// One file per ref, created exclusively ('wx'): when two processes resolve a ref at once, the first file written
// wins and the other process drops its checkout for the recorded commit. A ref that is already a full commit id
// moves nowhere and is not recorded; a `type: local` folder without a ref is read as it is (there is no commit).
// A release tag the repository lacks is recorded as missing: the site keeps falling back for that revision.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ExternalCheckout, RefPin, SotExternals } from './externals.ts';

const FULL_COMMIT = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** Where the pins of the revision snapshotted at `snapshotDir` live: beside it, so its content stays as fetched. */
export function pinDirFor(snapshotDir: string): string {
  return `${snapshotDir.replace(/\/+$/, '')}.pins`;
}

function pinFile(dir: string, kind: RefPin['kind'], url: string | null, ref: string): string {
  const key = createHash('sha256')
    .update(JSON.stringify([kind, url, ref]))
    .digest('hex')
    .slice(0, 32);
  return path.join(dir, `${kind}-${key}.json`);
}

/** A release tag the SoT's repository did not have when the revision was first loaded: it stays missing for it. */
interface MissingPin {
  kind: 'release_tag';
  ref: string;
  missing: string;
  pinnedAt: string;
}

async function readPin(file: string): Promise<RefPin | MissingPin | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const pin = JSON.parse(text) as Partial<RefPin & MissingPin>;
  if (typeof pin.missing === 'string') return pin as MissingPin;
  if (typeof pin.commit !== 'string' || !FULL_COMMIT.test(pin.commit))
    throw new Error(`${file}: no commit id recorded (remove the file to resolve the ref again)`);
  return pin as RefPin;
}

const isMissing = (p: RefPin | MissingPin): p is MissingPin => 'missing' in p;

/** A pin of a configuration ref (never a missing one: a configuration that cannot be had is an error, not pinned). */
async function readCommitPin(file: string): Promise<RefPin | undefined> {
  const p = await readPin(file);
  if (p && isMissing(p))
    throw new Error(`${file}: no commit id recorded (remove the file to resolve the ref again)`);
  return p;
}

/** Records `pin` unless another load recorded one first; returns the pin that holds. */
async function recordPin<P extends RefPin | MissingPin>(file: string, pin: P): Promise<RefPin | MissingPin> {
  await mkdir(path.dirname(file), { recursive: true });
  try {
    await writeFile(file, JSON.stringify(pin) + '\n', { flag: 'wx' });
    return pin;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return (await readPin(file)) ?? pin;
  }
}

/**
 * `inner`, with every moving ref resolved once per revision: `pinDir` holds what this revision's refs resolved to
 * (use pinDirFor(the revision's snapshot folder)).
 */
export function pinRefs(
  inner: SotExternals,
  pinDir: string,
  now: () => Date = () => new Date(),
): SotExternals {
  /** `fetch(ref)` at the pinned commit if there is one, else at `ref`, recording what it resolved to. */
  async function pinned<T extends ExternalCheckout>(
    kind: RefPin['kind'],
    url: string | null,
    ref: string,
    fetch: (ref: string) => Promise<T>,
  ): Promise<T & { pinned?: RefPin }> {
    if (FULL_COMMIT.test(ref)) return fetch(ref);
    const file = pinFile(pinDir, kind, url, ref);
    const held = await readCommitPin(file);
    if (held) return { ...(await atPin(held, fetch)), pinned: held };
    const got = await fetch(ref);
    if (got.commit === null) return got;
    const pin = await recordPin(file, { kind, url, ref, commit: got.commit, pinnedAt: now().toISOString() });
    if (isMissing(pin))
      throw new Error(`${file}: no commit id recorded (remove the file to resolve the ref again)`);
    if (pin.commit === got.commit) return { ...got, pinned: pin };
    // Another load of this revision resolved the ref first (to an older or newer commit): its commit holds.
    await got.cleanup();
    return { ...(await atPin(pin, fetch)), pinned: pin };
  }

  async function atPin<T>(pin: RefPin, fetch: (ref: string) => Promise<T>): Promise<T> {
    try {
      return await fetch(pin.commit);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`"${pin.ref}" is pinned to ${pin.commit} for this revision: ${why}`, { cause: err });
    }
  }

  return {
    async sotRevision(ref) {
      if (FULL_COMMIT.test(ref)) return inner.sotRevision(ref);
      const file = pinFile(pinDir, 'release_tag', null, ref);
      /** The revision a pin names: its commit, or missing as when the pin was made. */
      const at = async (pin: RefPin | MissingPin): ReturnType<SotExternals['sotRevision']> => {
        if (isMissing(pin))
          return { missing: `${pin.missing}, when this revision was first loaded (${pin.pinnedAt})` };
        const got = await inner.sotRevision(pin.commit);
        if ('missing' in got)
          return { missing: `the pinned commit ${pin.commit} of "${ref}" is gone (${got.missing})` };
        return { ...got, pinned: pin };
      };
      const held = await readPin(file);
      if (held) return at(held);
      // A tag missing now stays missing for this revision (the site falls back to it), so the plan and the rollout
      // agree even if the tag is pushed in between; a new revision looks for it again.
      const got = await inner.sotRevision(ref);
      if (!('missing' in got) && got.commit === null) return got;
      const pinnedAt = now().toISOString();
      const pin = await recordPin(
        file,
        'missing' in got
          ? { kind: 'release_tag', ref, missing: got.missing, pinnedAt }
          : { kind: 'release_tag', url: null, ref, commit: got.commit!, pinnedAt },
      );
      if ('missing' in got) return isMissing(pin) ? got : at(pin);
      if (!isMissing(pin) && pin.commit === got.commit) return { ...got, pinned: pin };
      await got.cleanup();
      return at(pin);
    },
    gitConfig: (url, ref) => pinned('git', url, ref, (r) => inner.gitConfig(url, r)),
    localConfig: (url, ref) =>
      ref === undefined
        ? inner.localConfig(url, ref)
        : pinned('local', url, ref, (r) => inner.localConfig(url, r)),
  };
}

// The vaquero image built as CI builds it, with no image registry (README.md, "Deploy"): a Node 20 bookworm base
// made from Debian's packages — `debootstrap` a minimal bookworm, the machine's own `nodejs` package (its Debian
// sources carry only Node 18) and the machine's CA bundle, `podman import`ed as localhost/vaquero-base:<hash> —
// then `podman build --build-arg BASE=… -f Containerfile .`. Both are cached by a content hash of their inputs:
// the base's rootfs tarball in vaquero's cache dir, the images in podman's storage; a re-run builds nothing.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensurePodmanConf } from '../cli/setup/podman.ts';
import { vaqueroCacheDir } from '../temporal/cache-dir.ts';

const run = promisify(execFile);

export const PROJECT_ROOT = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
export const BASE_REPO = 'localhost/vaquero-base';
export const IMAGE_REPO = 'localhost/vaquero';
/**
 * How the agent's container runs (README.md, "Deploy"), besides the host network: root in the container with every
 * capability dropped but CAP_NET_BIND_SERVICE, for ports 67 and 69.
 */
export const AGENT_RUN_FLAGS: readonly string[] = [
  '--user',
  '0',
  '--cap-drop',
  'all',
  '--cap-add',
  'NET_BIND_SERVICE',
];
/** The label an image built here carries: the hash of its inputs. */
export const INPUTS_LABEL = 'vaquero.inputs';
/** Bumped when the base recipe below changes, so the hash does too. */
const BASE_RECIPE = 3;
const SUITE = 'bookworm';
/** The base's trust store: the machine's (npm inside the build reaches the registry as this machine does). */
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export interface VaqueroImage {
  /** localhost/vaquero-base:<hash> */
  base: string;
  /** localhost/vaquero:<hash> */
  image: string;
  /** What this call had to do, and how long each step took (seconds; 0 when cached). */
  built: { debootstrap: number; baseImport: number; image: number };
  /** The image's size as podman reports it, in bytes. */
  sizeBytes: number;
  /** The env podman runs with (vaquero's containers.conf: runc, rlimits, cgroupfs). */
  env: NodeJS.ProcessEnv;
}

/** Fails loudly when a tool the image build needs is missing (`npm run setup` installs them). */
export async function requireImageTools(): Promise<void> {
  const missing: string[] = [];
  for (const tool of ['podman', 'debootstrap', 'slirp4netns', 'dpkg-query', 'tar']) {
    const found = await run('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`]).then(
      () => true,
      () => false,
    );
    if (!found) missing.push(tool);
  }
  if (missing.length > 0)
    throw new Error(
      `the image test needs ${missing.join(', ')} (npm run setup installs them: cli/setup/debian-packages.ts)`,
    );
  if (process.getuid?.() !== 0) throw new Error('building the base with debootstrap needs root');
}

/** The Debian mirror this machine's apt uses for the suite (read from its sources, never written down). */
export async function debianMirror(): Promise<string> {
  const files = ['/etc/apt/sources.list'];
  for (const name of await readdir('/etc/apt/sources.list.d').catch(() => [])) {
    if (name.endsWith('.sources') || name.endsWith('.list')) files.push(`/etc/apt/sources.list.d/${name}`);
  }
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    // deb822: a stanza with Suites: bookworm and URIs: …; one-line: deb URI bookworm main
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/im.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/im.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      const types = /^Types:\s*(.+)$/im.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && suites.includes(SUITE) && types.includes('deb') && !/^Enabled:\s*no/im.test(stanza))
        return uri;
    }
    for (const line of text.split('\n')) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s/.exec(line.trim() + ' ');
      if (m && m[2] === SUITE) return m[1]!;
    }
  }
  throw new Error(`no Debian ${SUITE} source in /etc/apt: debootstrap needs a mirror`);
}

/** This machine's apt sources for the suite, for the base's own /etc/apt (the Containerfile's apt-get). */
async function aptSources(): Promise<{ name: string; text: string }[]> {
  const ours = new Set([SUITE, `${SUITE}-updates`, `${SUITE}-security`]);
  const out: { name: string; text: string }[] = [];
  for (const name of await readdir('/etc/apt/sources.list.d').catch(() => [])) {
    if (!name.endsWith('.sources') && !name.endsWith('.list')) continue;
    const text = await readFile(`/etc/apt/sources.list.d/${name}`, 'utf8');
    const suites = [
      ...[...text.matchAll(/^Suites:\s*(.+)$/gim)].flatMap((m) => m[1]!.split(/\s+/)),
      ...[...text.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?\S+\s+(\S+)/gm)].map((m) => m[1]!),
    ];
    if (suites.length > 0 && suites.every((s) => ours.has(s))) out.push({ name, text });
  }
  if (out.length === 0) throw new Error(`no apt source file for ${SUITE} in /etc/apt/sources.list.d`);
  return out;
}

/**
 * This machine's Node: the nodejs package's files, and its global npm as it is on disk (npm may have been
 * upgraded in place since the package was installed, so its folder is taken whole).
 */
async function hostNode(): Promise<{ version: string; npm: string; files: string[]; dirs: string[] }> {
  const version = (await run('dpkg-query', ['-W', '-f=${Version}', 'nodejs'])).stdout.trim();
  if (!version) throw new Error('the nodejs Debian package is not installed on this machine');
  const listed = (await run('dpkg-query', ['-L', 'nodejs'], { maxBuffer: 16 * 2 ** 20 })).stdout.split('\n');
  const dirs = ['/usr/lib/node_modules/npm', '/usr/lib/node_modules/corepack'];
  const files: string[] = [];
  for (const f of [...listed, '/usr/bin/npm', '/usr/bin/npx']) {
    if (!f.startsWith('/') || /^\/usr\/(include|share\/(doc|man)|lib\/node_modules)\//.test(f)) continue;
    const st = await lstat(f).catch(() => undefined);
    if (st && !st.isDirectory()) files.push(f);
  }
  const npm = (JSON.parse(await readFile(`${dirs[0]}/package.json`, 'utf8')) as { version: string }).version;
  return { version, npm, files: [...new Set(files)].sort(), dirs };
}

function sha256(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
}

async function podman(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<{ stdout: string; stderr: string }> {
  return run('podman', args, { env, timeout: timeoutMs, maxBuffer: 64 * 2 ** 20 });
}

async function imageExists(ref: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  return podman(['image', 'exists', ref], env).then(
    () => true,
    () => false,
  );
}

/** Runs a long command with its output kept (the tail goes into the error), bounded in time. */
function runLong(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number; say?: (line: string) => void },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let partial = '';
    const take = (d: Buffer) => {
      const s = d.toString();
      out = (out + s).slice(-200_000);
      if (opts.say) {
        const lines = (partial + s).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) if (/^(\[\d+\/\d+\] )?(STEP|COMMIT)|^I: Base system/.test(l)) opts.say(l);
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `${cmd} ${args.join(' ')} ${signal ? `was killed (${signal}, limit ${opts.timeoutMs} ms)` : `exited ${code}`}:\n${out.slice(-6000)}`,
          ),
        );
    });
  });
}

/**
 * localhost/vaquero-base:<hash>: a minimal bookworm (debootstrap --variant=minbase) with this machine's nodejs
 * package, its apt sources and its CA bundle. The rootfs tarball is kept in the cache dir, so a lost image is
 * re-imported without a new debootstrap.
 */
export async function ensureBase(
  env: NodeJS.ProcessEnv,
  say: (m: string) => void,
): Promise<{ ref: string; debootstrap: number; baseImport: number }> {
  const mirror = await debianMirror();
  const node = await hostNode();
  const sources = await aptSources();
  const ca = await readFile(CA_BUNDLE);
  const hash = sha256(
    `recipe ${BASE_RECIPE}`,
    SUITE,
    mirror,
    node.version,
    `npm ${node.npm}`,
    node.files.join('\n'),
    JSON.stringify(sources),
    ca,
  ).slice(0, 16);
  const ref = `${BASE_REPO}:${hash}`;
  if (await imageExists(ref, env)) return { ref, debootstrap: 0, baseImport: 0 };

  const dir = path.join(vaqueroCacheDir(env), 'image');
  await mkdir(dir, { recursive: true });
  const tarball = path.join(dir, `vaquero-base-${hash}.tar.gz`);
  let debootstrap = 0;
  if (
    !(await access(tarball, constants.R_OK).then(
      () => true,
      () => false,
    ))
  ) {
    const t0 = Date.now();
    const work = await mkdtemp(path.join(dir, 'build-'));
    try {
      const rootfs = path.join(work, 'rootfs');
      say(`debootstrap --variant=minbase ${SUITE} (node ${node.version}, npm ${node.npm} from this machine)`);
      await runLong(
        'debootstrap',
        ['--variant=minbase', '--include=ca-certificates', SUITE, rootfs, mirror],
        { timeoutMs: 10 * 60_000, say },
      );
      const list = path.join(work, 'node-files');
      await writeFile(list, node.files.map((f) => f.slice(1)).join('\n') + '\n');
      await run('sh', [
        '-c',
        `{ tar -C / --no-recursion -cf - -T "$1"; } | tar -C "$2" -xf - && tar -C / -cf - ${node.dirs.map((d) => d.slice(1)).join(' ')} | tar -C "$2" -xf -`,
        'sh',
        list,
        rootfs,
      ]);
      // apt: this machine's sources (the suite's mirror and its updates and security suites), nothing else.
      await writeFile(path.join(rootfs, 'etc/apt/sources.list'), '');
      for (const s of sources) await writeFile(path.join(rootfs, 'etc/apt/sources.list.d', s.name), s.text);
      await writeFile(path.join(rootfs, CA_BUNDLE), ca);
      await run('sh', [
        '-c',
        'cd "$1" && rm -rf var/cache/apt/archives/*.deb var/lib/apt/lists/* usr/share/doc/* usr/share/man/* usr/share/locale/* var/log/*.log var/log/apt/* tmp/*',
        'sh',
        rootfs,
      ]);
      const partial = `${tarball}.partial`;
      await run('tar', ['-C', rootfs, '--numeric-owner', '-czf', partial, '.'], { timeout: 5 * 60_000 });
      await rename(partial, tarball);
      for (const old of await readdir(dir))
        if (old.startsWith('vaquero-base-') && old !== path.basename(tarball))
          await rm(path.join(dir, old), { force: true });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    debootstrap = (Date.now() - t0) / 1000;
  }
  const t1 = Date.now();
  say(`podman import ${path.basename(tarball)} ${ref}`);
  await podman(
    [
      'import',
      '--change',
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      // Node's own roots plus the machine's: npm in the build reaches the registry as this machine does.
      '--change',
      `ENV NODE_EXTRA_CA_CERTS=${CA_BUNDLE}`,
      '--change',
      'CMD ["node"]',
      tarball,
      ref,
    ],
    env,
    5 * 60_000,
  );
  return { ref, debootstrap, baseImport: (Date.now() - t1) / 1000 };
}

/** The paths `.containerignore` lets into the build context (it is an allowlist: `*`, then `!path`). */
export async function contextPaths(root = PROJECT_ROOT): Promise<string[]> {
  const text = await readFile(path.join(root, '.containerignore'), 'utf8');
  const lines = text.split('\n').map((l) => l.trim());
  if (!lines.includes('*'))
    throw new Error('.containerignore is expected to be an allowlist ("*", then "!path" lines)');
  return lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
}

async function walkFiles(root: string, rel: string, out: string[]): Promise<void> {
  const st = await lstat(path.join(root, rel)).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) {
    for (const name of (await readdir(path.join(root, rel))).sort()) {
      if (name === 'node_modules' || name.endsWith('.log')) continue;
      await walkFiles(root, `${rel}/${name}`, out);
    }
  } else out.push(rel);
}

/** A hash of everything the image is made from: the base, the Containerfile and the build context. */
export async function imageInputsHash(base: string, root = PROJECT_ROOT): Promise<string> {
  const files: string[] = [];
  for (const p of await contextPaths(root)) await walkFiles(root, p, files);
  const h = createHash('sha256');
  h.update(`base ${base}\0`);
  for (const f of ['Containerfile', '.containerignore', ...files]) {
    h.update(`${f}\0`);
    h.update(await readFile(path.join(root, f)));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

/** The `podman build` line the README gives, with this base and tag. */
export function buildArgs(base: string, tag: string, inputs: string): string[] {
  return [
    'build',
    '--network',
    'host',
    '--build-arg',
    `BASE=${base}`,
    '--label',
    `${INPUTS_LABEL}=${inputs}`,
    '-t',
    tag,
    '-f',
    'Containerfile',
    '.',
  ];
}

/**
 * What earlier builds left: older localhost/vaquero and localhost/vaquero-base tags, and the untagged images of
 * earlier build stages on this base (the newest is kept: its layers are the `npm ci` cache of the next build).
 */
async function pruneOlder(env: NodeJS.ProcessEnv, base: string, image: string): Promise<void> {
  const idOf = async (ref: string): Promise<string> =>
    (await podman(['image', 'inspect', '--format', '{{.Id}}', ref], env)).stdout.trim();
  const tags = (await podman(['images', '--format', '{{.Repository}}:{{.Tag}}'], env)).stdout
    .split('\n')
    .filter(Boolean);
  const oldImages = tags.filter((t) => t.startsWith(`${IMAGE_REPO}:`) && t !== image);
  const oldBases = tags.filter((t) => t.startsWith(`${BASE_REPO}:`) && t !== base);
  const baseId = await idOf(base);
  const oldBaseIds = new Set(await Promise.all(oldBases.map(idOf)));
  for (const old of oldImages) await podman(['rmi', old], env).catch(() => undefined);
  // Newest first (podman's order).
  const dangling = (
    await podman(['images', '--filter', 'dangling=true', '--no-trunc', '--format', '{{.ID}}'], env)
  ).stdout
    .split('\n')
    .map((l) => l.trim().replace(/^sha256:/, ''))
    .filter(Boolean);
  let keptOne = false;
  for (const id of dangling) {
    const history = await podman(['history', '--no-trunc', '--format', '{{.ID}}', id], env).catch(
      () => undefined,
    );
    const chain = history?.stdout.split('\n') ?? [];
    if (chain.some((l) => oldBaseIds.has(l))) await podman(['rmi', id], env).catch(() => undefined);
    else if (chain.includes(baseId)) {
      if (keptOne) await podman(['rmi', id], env).catch(() => undefined);
      keptOne = true;
    }
  }
  for (const old of oldBases) await podman(['rmi', old], env).catch(() => undefined);
}

/** Builds (when its inputs changed) and returns localhost/vaquero:<hash>; older builds' images are removed. */
export async function ensureVaqueroImage(say: (m: string) => void = () => undefined): Promise<VaqueroImage> {
  await requireImageTools();
  const env = { ...process.env, CONTAINERS_CONF: await ensurePodmanConf() };
  const base = await ensureBase(env, say);
  const inputs = await imageInputsHash(base.ref);
  const image = `${IMAGE_REPO}:${inputs}`;
  let imageSeconds = 0;
  if (!(await imageExists(image, env))) {
    const t0 = Date.now();
    say(`podman build --build-arg BASE=${base.ref} -t ${image}`);
    await runLong('podman', buildArgs(base.ref, image, inputs), {
      env,
      cwd: PROJECT_ROOT,
      timeoutMs: 10 * 60_000,
      say,
    });
    imageSeconds = (Date.now() - t0) / 1000;
    await pruneOlder(env, base.ref, image);
  }
  const size = Number(
    (await podman(['image', 'inspect', '--format', '{{.Size}}', image], env)).stdout.trim(),
  );
  return {
    base: base.ref,
    image,
    built: { debootstrap: base.debootstrap, baseImport: base.baseImport, image: imageSeconds },
    sizeBytes: size,
    env,
  };
}

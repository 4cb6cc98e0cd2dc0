// The GRUB config the agent serves a host for one stage when its loader is GRUB (shim → signed GRUB netboot image
// → this config). Built in, never a user template, from the same OS profile as the iPXE script: kernel, initrds,
// command line.
//
// Debian's signed GRUB netboot image (grub-efi-amd64-signed: grubnetx64.efi.signed) reads `$prefix/grub.cfg`
// and nothing else (prefix `(tftp,<next server>)/grub`; the per-MAC and per-IP names other distributions search
// come from a Red Hat patch Debian does not carry, seen in the lab, LAB.md §9.4). So the agent serves one
// bootstrap `grub/grub.cfg` that sources the host's own file by the MAC GRUB booted from, and that file is the
// host's rendered config, served only while its gate is open. Under Secure Boot the signed GRUB has no HTTP
// module and may load none: kernel and initrds come over TFTP from the agent, by the path of their URL.

export interface GrubConfigInput {
  host: string;
  stageIndex: number;
  boot: string;
  kernel: string;
  initrds: readonly string[];
  /** The command line's words, each already checked (cmdline.ts). */
  cmdlineWords: readonly string[];
}

/** Where GRUB's prefix points on the agent's TFTP service, and the bootstrap config it reads there. */
export const GRUB_PREFIX = 'grub';
export const GRUB_BOOTSTRAP_PATH = `${GRUB_PREFIX}/grub.cfg`;

/** The TFTP name of a host's own GRUB config: `grub/hosts/<mac, lowercase, colons>.cfg`. */
export function grubHostConfigPath(mac: string): string {
  return `${GRUB_PREFIX}/hosts/${mac.toLowerCase()}.cfg`;
}

/**
 * The bootstrap every GRUB host reads first. `net_default_mac` is the MAC of the NIC GRUB booted from, as GRUB
 * writes it (lowercase, colons); a host with no config now (its gate closed) gets a TFTP refusal, and GRUB goes
 * back to the firmware, which tries its next boot option (the disk).
 */
export const GRUB_BOOTSTRAP = [
  '# vaquero: each host reads its own config, by the MAC GRUB booted from',
  `source $prefix/hosts/\${net_default_mac}.cfg`,
  "echo 'vaquero: no boot config for this host now: back to the firmware'",
  'sleep 3',
  'exit',
  '',
].join('\n');

/** Characters a GRUB word may hold unquoted; anything else is single-quoted (GRUB expands nothing inside). */
const PLAIN_WORD = /^[A-Za-z0-9_.,:=/+@%-]+$/;

/** Why `word` cannot go on a GRUB line, or undefined. */
export function grubWordProblem(word: string): string | undefined {
  if (word.includes("'")) return "contains a single quote, which GRUB's quoting cannot carry";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(word)) return 'contains a control character';
  return undefined;
}

function grubWord(word: string): string {
  return PLAIN_WORD.test(word) ? word : `'${word}'`;
}

/**
 * How GRUB names `url` on the agent's TFTP service: `(tftp,<host>)/<path>`, or why it cannot. GRUB fetches
 * from the agent itself, by TFTP, so the URL must be on `agentHost` (the SoT agent's http_url host): a kernel on
 * a mirror is fetched through the agent's /assets/ for iPXE, which GRUB cannot use.
 */
export function grubTftpPath(
  url: string,
  agentHost: string,
): { ok: true; path: string } | { ok: false; problem: string } {
  const m = /^https?:\/\/([^/:?#]+)(?::\d+)?(\/[^?#]*)$/.exec(url);
  if (!m)
    return { ok: false, problem: 'is not an http URL with a path and no query (GRUB names files by path)' };
  if (m[1] !== agentHost)
    return {
      ok: false,
      problem: `is not on the agent (${agentHost}): GRUB fetches kernel and initrds from the agent by TFTP`,
    };
  const path = decodePath(m[2]!);
  const problem = grubWordProblem(path) ?? (/\s/.test(path) ? 'has whitespace in its path' : undefined);
  if (problem) return { ok: false, problem };
  return { ok: true, path: `(tftp,${agentHost})${path}` };
}

function decodePath(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

/**
 * The host's GRUB config for one stage; `kernel` and `initrds` are GRUB paths (grubTftpPath's). GRUB loads every
 * initrd of one `initrd` line into one image, so no `initrd=` names on the command line (iPXE's need).
 */
export function buildGrubConfig(s: GrubConfigInput): string {
  const title = `vaquero: host ${s.host}, stage ${s.stageIndex} (${s.boot})`;
  const lines = [
    `# ${title}`,
    `echo ${grubWord(title)}`,
    ['linux', s.kernel, ...s.cmdlineWords.map(grubWord)].join(' '),
    ...(s.initrds.length > 0 ? [['initrd', ...s.initrds].join(' ')] : []),
    'boot',
  ];
  return lines.join('\n') + '\n';
}

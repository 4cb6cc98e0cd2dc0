// The iPXE script the agent serves a host for one stage. It is built in, never a user template: the only
// SoT-controlled parts are URLs and the command line, and both are checked before they get here.

export interface IpxeScriptInput {
  host: string;
  stageIndex: number;
  boot: string;
  kernel: string;
  initrds: readonly string[];
  cmdline: string;
}

/** Why `url` cannot be a kernel or initrd URL on an iPXE line, or undefined when it can. */
export function ipxeUrlProblem(url: string): string | undefined {
  if (url === '') return 'is empty';
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(url)) return 'contains whitespace or a control character';
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]/.test(url)) return 'is not an absolute URL (scheme://host/...)';
  if (url.includes('${')) return 'contains "${", which iPXE would expand as a setting';
  return undefined;
}

/**
 * The name iPXE gives an image fetched from `url`: the last segment of its path (query and fragment are not
 * part of it). The kernel command line refers to initrds by this name (`initrd=<name>`), which UEFI needs.
 */
export function ipxeImageName(url: string): string {
  const path = url.replace(/[?#].*$/, '').replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/, '');
  return path.slice(path.lastIndexOf('/') + 1);
}

export function buildIpxeScript(s: IpxeScriptInput): string {
  // A SoT that already names an initrd on its command line must not get it twice: the kernel would load it twice.
  const given = new Set(s.cmdline.split(' '));
  const initrdArgs = s.initrds.map((u) => `initrd=${ipxeImageName(u)}`).filter((w) => !given.has(w));
  const kernelArgs = [...initrdArgs, s.cmdline].filter((a) => a !== '');
  const lines = [
    '#!ipxe',
    `# vaquero: host ${s.host}, stage ${s.stageIndex} (${s.boot})`,
    ['kernel', s.kernel, ...kernelArgs].join(' '),
    ...s.initrds.map((u) => `initrd ${u}`),
    'boot',
  ];
  return lines.join('\n') + '\n';
}

/** How often a served script goes back to DHCP after a failed fetch or boot, per power-on (withBootRetry). */
export const IPXE_BOOT_RETRIES = 3;

/** The script label a failed fetch or boot jumps to, and the iPXE setting that counts the retries. */
const RETRY_LABEL = 'vaquero_retry';
const GIVE_UP_LABEL = 'vaquero_give_up';
const RETRY_COUNTER = 'vaquero_retries';

/**
 * `script` (buildIpxeScript's) as an agent serves it: a kernel or initrd fetch that fails, or a `boot` that
 * does, sends iPXE back to DHCP and chains the script of whichever agent answers now, instead of ending the
 * script with nothing booted. With two agents in a broadcast domain the one that served the script may be gone
 * (killed after its DHCP answer): the other answers the new DHCP, serves the script under its own URL, and the
 * host boots without the power cycle its workflow would otherwise give it once the step timed out.
 *
 * Bounded: an iPXE setting counts the retries across the chained scripts (settings live until the machine
 * resets, so each power-on starts from zero); after `retries` the script gives up (`exit 1`), the firmware
 * finds nothing to boot and the workflow's step timeout and power cycle take over, as without this. A script
 * the new answer refuses (a closed gate's give-up script) ends the boot at once: `chain --replace` runs it in
 * this script's place, so nothing comes back here.
 *
 * Added when the agent serves the script, not when the SoT is rendered: the retry is the agent's way of
 * booting, not part of what the host boots, so it stays out of the rendered script and of the host
 * fingerprints taken over it (a change here must not reprovision a fleet). A script that already has the
 * retry is returned as it is.
 */
export function withBootRetry(script: string, retries = IPXE_BOOT_RETRIES): string {
  if (script.includes(`\n:${RETRY_LABEL}\n`)) return script;
  const lines = script.replace(/\n$/, '').split('\n');
  const body = lines.map((l) =>
    /^(kernel|initrd) \S/.test(l) || l === 'boot' ? `${l} || goto ${RETRY_LABEL}` : l,
  );
  return (
    [
      ...body,
      `:${RETRY_LABEL}`,
      // Images fetched before the failure would otherwise be loaded again beside the next script's own.
      'imgfree',
      `inc ${RETRY_COUNTER}`,
      `iseq \${${RETRY_COUNTER}} ${retries + 1} && goto ${GIVE_UP_LABEL} ||`,
      `echo vaquero: boot failed: DHCP again and chain the answer (retry \${${RETRY_COUNTER}} of ${retries})`,
      'sleep 2',
      `dhcp || goto ${RETRY_LABEL}`,
      `chain --replace --autofree \${filename} || goto ${RETRY_LABEL}`,
      `:${GIVE_UP_LABEL}`,
      `echo vaquero: boot failed after ${retries} retries: giving up`,
      'exit 1',
    ].join('\n') + '\n'
  );
}

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

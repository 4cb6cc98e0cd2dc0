// The validate stage's comparison of what a host booted with what the SoT rendered: pure functions of text.

/** The command line in a checkpoint event's detail (the agent appends `; cmdline=<value>` when the OS sent one). */
export function reportedCmdlineOf(detail: string | undefined): string | undefined {
  const i = detail?.indexOf('; cmdline=') ?? -1;
  return i < 0 ? undefined : detail!.slice(i + '; cmdline='.length);
}

/**
 * How a booted command line differs from the rendered one, as token multisets, or '' when they agree. The
 * bootloader and kernel add `initrd=<name>` (iPXE) and `BOOT_IMAGE=` tokens of their own, which are not the SoT's,
 * and iPXE on UEFI puts the kernel image's name first (the EFI stub's argv[0]).
 */
export function cmdlineDifference(rendered: string, booted: string, kernelUrl = ''): string {
  const own = (t: string) => t !== '' && !t.startsWith('initrd=') && !t.startsWith('BOOT_IMAGE=');
  const count = (tokens: string[]) => {
    const m = new Map<string, number>();
    for (const t of tokens.filter(own)) m.set(t, (m.get(t) ?? 0) + 1);
    return m;
  };
  const image =
    kernelUrl
      .replace(/[?#].*$/, '')
      .split('/')
      .pop() ?? '';
  const bootedTokens = booted.trim().split(/\s+/);
  if (image !== '' && bootedTokens[0] === image && !rendered.trim().startsWith(image)) bootedTokens.shift();
  const want = count(rendered.trim().split(/\s+/));
  const got = count(bootedTokens);
  const missing: string[] = [];
  const extra: string[] = [];
  for (const [t, n] of want) for (let i = got.get(t) ?? 0; i < n; i++) missing.push(t);
  for (const [t, n] of got) for (let i = want.get(t) ?? 0; i < n; i++) extra.push(t);
  if (missing.length === 0 && extra.length === 0) return '';
  const show = (ts: string[]) => ts.map((t) => (t.length > 80 ? `${t.slice(0, 77)}...` : t)).join(' ');
  return [missing.length ? `missing ${show(missing)}` : '', extra.length ? `unexpected ${show(extra)}` : '']
    .filter(Boolean)
    .join('; ');
}

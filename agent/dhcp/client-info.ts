// What a request says about the client that asks: the facts the boot-file choice depends on, read once from the
// options so the decision itself stays a pure function of plain values.
import type { DhcpPacket } from './codec.ts';
import { getClientArchs, getText, getUserClasses, Opt } from './options.ts';

export interface ClientInfo {
  /** Lowercase aa:bb:cc:dd:ee:ff. */
  mac: string;
  /** Option 93's first type, else the `Arch:NNNNN` field of a PXEClient/HTTPClient vendor class. */
  arch?: number;
  vendorClass?: string;
  userClasses: string[];
  /** iPXE identifies itself by user class "iPXE" and by sending its own option 175. */
  ipxe: boolean;
  /** Vendor class starts with "PXEClient" (PXE 2.1 firmware, iPXE, EDK2). */
  pxeClient: boolean;
  /** Vendor class starts with "HTTPClient" (UEFI HTTP boot, UEFI 2.5+ §24.7). */
  httpClient: boolean;
  /** Any sign that the client wants a network boot program, not just an address. */
  netboot: boolean;
  /** Option 97, echoed in PXE replies. */
  uuid?: Buffer;
}

function archFromVendorClass(vc: string | undefined): number | undefined {
  const m = vc ? /:Arch:(\d{5})/.exec(vc) : null;
  return m ? Number(m[1]) : undefined;
}

export function describeClient(p: DhcpPacket, mac: string): ClientInfo {
  const vendorClass = getText(p, Opt.VendorClass);
  const userClasses = getUserClasses(p);
  const archs = getClientArchs(p);
  const arch = archs[0] ?? archFromVendorClass(vendorClass);
  const ipxe = userClasses.includes('iPXE') || p.options.has(Opt.Ipxe);
  const pxeClient = vendorClass?.startsWith('PXEClient') ?? false;
  const httpClient = vendorClass?.startsWith('HTTPClient') ?? false;
  const uuid = p.options.get(Opt.ClientUuid);
  return {
    mac,
    ...(arch !== undefined ? { arch } : {}),
    ...(vendorClass !== undefined ? { vendorClass } : {}),
    userClasses,
    ipxe,
    pxeClient,
    httpClient,
    netboot: ipxe || pxeClient || httpClient || archs.length > 0,
    ...(uuid !== undefined ? { uuid } : {}),
  };
}

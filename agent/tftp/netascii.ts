// RFC 764/1350 netascii for read requests: LF becomes CR LF and a bare CR becomes CR NUL. A Unix client in
// netascii mode (tftp-hpa's default) reverses this, so even a binary file survives the round trip. Conversion
// changes lengths, so it is done on the whole file in memory, which is why the server caps netascii file size.

export function netasciiLength(src: Buffer): number {
  let extra = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === 0x0a || c === 0x0d) extra++;
  }
  return src.length + extra;
}

export function toNetascii(src: Buffer): Buffer {
  const out = Buffer.allocUnsafe(netasciiLength(src));
  let o = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i] as number;
    if (c === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else if (c === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x00;
    } else {
      out[o++] = c;
    }
  }
  return out;
}

// The pixel size of an image before the panel decodes it (docs/protocol.md §2.3.5 "Images"): a
// member can send a small file that decodes to a huge bitmap (a PNG of 30 000 × 30 000 pixels of
// one colour compresses to a few KB and would take 3.6 GB to decode). The host reads the size
// from the format's header and hands over only images within the bound; others can be saved.
// Pure: unit-tested.

/** The most pixels an image may have to be previewed (4096 × 4096), and the longest side. */
export const MAX_PREVIEW_PIXELS = 4096 * 4096;
export const MAX_PREVIEW_SIDE = 8192;

const u16be = (b: Uint8Array, i: number): number => (b[i]! << 8) | b[i + 1]!;
const u16le = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8);
const u24le = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16);
const u32be = (b: Uint8Array, i: number): number => ((b[i]! << 24) >>> 0) + (b[i + 1]! << 16) + (b[i + 2]! << 8) + b[i + 3]!;

/** Width and height from the header of a PNG, GIF, JPEG or WebP, or undefined when it cannot be read. */
export function imageSize(mime: string, b: Uint8Array): { width: number; height: number } | undefined {
  if (mime === 'image/png') return b.length >= 24 ? { width: u32be(b, 16), height: u32be(b, 20) } : undefined;
  if (mime === 'image/gif') return b.length >= 10 ? { width: u16le(b, 6), height: u16le(b, 8) } : undefined;
  if (mime === 'image/jpeg') {
    // The first start-of-frame marker (SOF0-SOF15 but DHT, JPG, DAC) carries the size.
    for (let i = 2; i + 9 < b.length;) {
      if (b[i] !== 0xff) return undefined;
      const marker = b[i + 1]!;
      if (marker === 0xff) { i++; continue; }
      if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { i += 2; continue; }
      const len = u16be(b, i + 2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: u16be(b, i + 5), width: u16be(b, i + 7) };
      }
      if (len < 2) return undefined;
      i += 2 + len;
    }
    return undefined;
  }
  if (mime === 'image/webp') {
    if (b.length < 30) return undefined;
    const chunk = String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!);
    if (chunk === 'VP8X') return { width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 };
    if (chunk === 'VP8L') {
      const bits = b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24);
      return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    if (chunk === 'VP8 ') return { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
    return undefined;
  }
  return undefined;
}

/** Whether an image is small enough to decode in the panel (its header read, within both bounds). */
export function previewableSize(mime: string, b: Uint8Array): boolean {
  const s = imageSize(mime, b);
  return s !== undefined && s.width > 0 && s.height > 0 && s.width <= MAX_PREVIEW_SIDE && s.height <= MAX_PREVIEW_SIDE && s.width * s.height <= MAX_PREVIEW_PIXELS;
}

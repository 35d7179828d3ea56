/**
 * A JPEG's size from its frame header (SOFn), without decoding: the crop of an example is drawn
 * from the size alone, before any pixel is decoded, so a decoder can decode just what it needs.
 */

/** SOF0-SOF15 except DHT (c4), JPG (c8) and DAC (cc), which share the range but are not frames. */
function isFrameMarker(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** Markers that stand alone, without a length: TEM, RST0-7, SOI, EOI. */
function hasNoLength(marker: number): boolean {
  return marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9);
}

/**
 * Height and width of the JPEG in `bytes`, or a sentence saying why they cannot be read (no SOI,
 * the file ends before its frame header, a broken marker).
 */
export function readJpegSize(bytes: Uint8Array): { height: number; width: number } | string {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return 'no JPEG start-of-image marker (ff d8)';
  let position = 2;
  while (position + 2 <= bytes.length) {
    if (bytes[position] !== 0xff) return `a broken marker at byte ${position} (expected ff, found ${bytes[position]!.toString(16).padStart(2, '0')})`;
    let marker = bytes[position + 1]!;
    // Any number of 0xff fill bytes may precede a marker.
    while (marker === 0xff && position + 2 < bytes.length) marker = bytes[++position + 1]!;
    position += 2;
    if (hasNoLength(marker)) {
      if (marker === 0xd9) return 'the image ends (EOI) before its frame header';
      continue;
    }
    if (marker === 0xda) return 'the scan starts (SOS) before a frame header';
    if (position + 2 > bytes.length) break;
    const length = (bytes[position]! << 8) | bytes[position + 1]!;
    if (length < 2) return `a marker segment of length ${length} at byte ${position}`;
    if (isFrameMarker(marker)) {
      if (position + 7 > bytes.length) break;
      const height = (bytes[position + 3]! << 8) | bytes[position + 4]!;
      const width = (bytes[position + 5]! << 8) | bytes[position + 6]!;
      if (height === 0 || width === 0) return `a frame header of ${width}×${height} pixels`;
      return { height, width };
    }
    position += length;
  }
  return `the file is truncated: it ends after ${bytes.length} bytes, before its frame header`;
}

/**
 * Frames of the queue log (format 2): every group-commit write is one frame,
 *
 *   `@` <body length, 8 hex> <CRC-32 of the body, 8 hex> `\n` <body>
 *
 * and the body is whole records (codec.ts), one per line. Why per write and not per record:
 * the writer checksums the buffer it is about to write in one native call, so framing costs
 * W1/W2 nothing per event. Why CRC-32 and not CRC-32C: Node ships it (`zlib.crc32`, native,
 * no dependency) and it is there to catch accidental damage (a zeroed block, a flipped bit),
 * which both detect equally; nothing here defends against a forger.
 *
 * Neither the header nor a record can contain a NUL byte (the header is ASCII, records are
 * JSON text), so NUL bytes in a log mean a write that never reached the disk; see scan.ts.
 * Segments written before framing (format 1, bare record lines) start with `[`.
 */
import { isUtf8 } from 'node:buffer';
import { crc32 } from 'node:zlib';

export const FRAME_MARK = 0x40; // '@'
export const HEADER_BYTES = 18;
/** A frame never exceeds this: it bounds what a damaged length field can make us read. */
export const MAX_FRAME_BYTES = 0xffff_ffff;

const HEX = /^[0-9a-f]{16}$/;

/** Writes the header for `body` (already at `buf[HEADER_BYTES..]`) into `buf[0..18)`. */
export function writeHeader(buf: Buffer, bodyBytes: number): void {
  const body = buf.subarray(HEADER_BYTES, HEADER_BYTES + bodyBytes);
  const len = bodyBytes.toString(16).padStart(8, '0');
  const sum = crc32(body).toString(16).padStart(8, '0');
  buf[0] = FRAME_MARK;
  buf.write(len + sum, 1, 'latin1');
  buf[HEADER_BYTES - 1] = 0x0a;
}

export type FrameCheck =
  | { readonly ok: true; readonly end: number }
  /** `incomplete`: the file ends before the frame the header announces (a torn write). */
  | { readonly ok: false; readonly why: string; readonly incomplete: boolean };

/** Verifies the frame starting at `pos` of `buf` (the whole segment). */
export function checkFrame(buf: Buffer, pos: number): FrameCheck {
  if (buf.length - pos < HEADER_BYTES) {
    return { ok: false, why: 'incomplete frame header', incomplete: true };
  }
  const fields = buf.toString('latin1', pos + 1, pos + HEADER_BYTES - 1);
  if (buf[pos] !== FRAME_MARK || buf[pos + HEADER_BYTES - 1] !== 0x0a || !HEX.test(fields)) {
    return { ok: false, why: 'no frame header', incomplete: false };
  }
  const len = parseInt(fields.slice(0, 8), 16);
  const sum = parseInt(fields.slice(8), 16);
  const start = pos + HEADER_BYTES;
  if (len === 0) return { ok: false, why: 'empty frame', incomplete: false };
  if (start + len > buf.length) {
    return { ok: false, why: 'frame runs past the end of the file', incomplete: true };
  }
  const body = buf.subarray(start, start + len);
  if (crc32(body) !== sum) return { ok: false, why: 'checksum mismatch', incomplete: false };
  // The checksum matched, so these hold unless the writer itself was wrong; checked anyway,
  // because everything downstream relies on them.
  if (body[len - 1] !== 0x0a || !isUtf8(body)) {
    return { ok: false, why: 'frame body is not UTF-8 record lines', incomplete: false };
  }
  return { ok: true, end: start + len };
}

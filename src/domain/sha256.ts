/**
 * SHA-256 (FIPS 180-4) of a byte range, in plain JavaScript over preallocated 32-bit words,
 * for the dedup key's hash (dedup-key.ts), which every applied event computes.
 *
 * Why not node:crypto: its one-shot `hash()` costs ~0.8 us per short input on this VM
 * (OpenSSL's per-call digest setup behind a native call) and returns a fresh Buffer, one more
 * ArrayBuffer per key for the garbage collector; this costs ~0.4-0.6 us for an input that
 * fits one block (topic, a NUL and an event id under 56 bytes together: a UUID in a topic of
 * up to 19 bytes) and writes into the caller's memory. The output is SHA-256 exactly, so keys
 * already stored, and PostgreSQL's sha256() in apply_batch, stay equal
 * (test/unit/dedup-key.test.ts checks it against node:crypto at every length to 200 bytes,
 * on a long input and on non-ASCII ids).
 *
 * Not reentrant (module-level scratch words); JavaScript runs it to completion, so callers
 * on one thread never interleave.
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const W = new Int32Array(64);
const H = new Int32Array(8);

/**
 * Hashes `msg[0, length)` and writes the first `outBytes` (at most 32) bytes of the digest to
 * `out` at `at`. `msg` must have room for the padding: at least `paddedLength(length)` bytes;
 * the bytes from `length` on are overwritten.
 */
export function sha256Into(
  msg: Uint8Array,
  length: number,
  out: Uint8Array,
  at: number,
  outBytes: number,
): void {
  const end = paddedLength(length);
  msg[length] = 0x80;
  msg.fill(0, length + 1, end - 8);
  const hi = Math.floor(length / 0x20000000); // bit length / 2^32
  const lo = (length << 3) >>> 0;
  msg[end - 8] = hi >>> 24;
  msg[end - 7] = hi >>> 16;
  msg[end - 6] = hi >>> 8;
  msg[end - 5] = hi;
  msg[end - 4] = lo >>> 24;
  msg[end - 3] = lo >>> 16;
  msg[end - 2] = lo >>> 8;
  msg[end - 1] = lo;
  let h0 = 0x6a09e667 | 0;
  let h1 = 0xbb67ae85 | 0;
  let h2 = 0x3c6ef372 | 0;
  let h3 = 0xa54ff53a | 0;
  let h4 = 0x510e527f | 0;
  let h5 = 0x9b05688c | 0;
  let h6 = 0x1f83d9ab | 0;
  let h7 = 0x5be0cd19 | 0;
  for (let p = 0; p < end; p += 64) {
    for (let i = 0; i < 16; i++) {
      const q = p + i * 4;
      W[i] =
        ((msg[q] ?? 0) << 24) |
        ((msg[q + 1] ?? 0) << 16) |
        ((msg[q + 2] ?? 0) << 8) |
        (msg[q + 3] ?? 0);
    }
    for (let i = 16; i < 64; i++) {
      const x = W[i - 15] ?? 0;
      const y = W[i - 2] ?? 0;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[i] = ((W[i - 16] ?? 0) + s0 + (W[i - 7] ?? 0) + s1) | 0;
    }
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    let f = h5;
    let g = h6;
    let h = h7;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + (K[i] ?? 0) + (W[i] ?? 0)) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + h) | 0;
  }
  H[0] = h0;
  H[1] = h1;
  H[2] = h2;
  H[3] = h3;
  H[4] = h4;
  H[5] = h5;
  H[6] = h6;
  H[7] = h7;
  for (let i = 0; i < outBytes; i++) {
    out[at + i] = ((H[i >>> 2] ?? 0) >>> (24 - 8 * (i & 3))) & 0xff;
  }
}

/** Bytes `sha256Into` needs in `msg` for a message of `length` bytes: whole 64-byte blocks. */
export function paddedLength(length: number): number {
  return (((length + 8) >>> 6) + 1) * 64;
}

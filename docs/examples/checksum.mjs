#!/usr/bin/env node
// Arbiter state checksum, written from the spec for Node 20 with no packages.
//
// The checksum of a room's state (PROTOCOL.md section 6, docs/state-sync.md) is
// xxHash64, seed 0, of the RFC 8785 (JCS) canonical JSON of the document, written
// as 16 lowercase hex digits. Browser and Node clients can copy `canonical` and
// `checksum` as they are (they use only the language and TextEncoder). The Arbiter
// test suite runs this file against the shared test vectors.
//
// Usage:
//   node checksum.mjs [FILE]          print the canonical JSON, then the checksum
//                                     (FILE is a JSON document; '-' or none: stdin)
//   node checksum.mjs --check FILE    verify a vectors file
//                                     ({"vectors": [{"json", "canonical", "checksum"}]})

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// --- RFC 8785 canonical JSON ----------------------------------------------------

// JSON.parse already turns every number into a double (big integers round to the
// nearest one), and String(number) is ECMAScript's Number.prototype.toString,
// which is exactly what JCS prescribes (-0 prints as "0").
function formatNumber(x) {
  if (!Number.isFinite(x)) throw new Error('JCS has no form for NaN or infinity');
  return String(x);
}

// Escape only '"', '\' and U+0000..U+001F; everything else stays literal.
function formatString(s) {
  if (!s.isWellFormed()) throw new Error('string with a lone surrogate');
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0c) out += '\\f';
    else if (c === 0x0d) out += '\\r';
    else if (c < 0x20) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += s[i];
  }
  return out + '"';
}

export function canonical(value) {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'string') return formatString(value);
  if (Array.isArray(value)) return '[' + value.map(canonical).join(',') + ']';
  if (typeof value === 'object') {
    // Array.prototype.sort() without a comparator compares UTF-16 code units: the
    // JCS key order.
    const keys = Object.keys(value).sort();
    return '{' + keys.map((k) => formatString(k) + ':' + canonical(value[k])).join(',') + '}';
  }
  throw new Error('not a JSON value: ' + typeof value);
}

// --- xxHash64 ---------------------------------------------------------------------

const MASK = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

const rotl = (x, r) => ((x << r) | (x >> (64n - r))) & MASK;
const round = (acc, lane) => (rotl((acc + lane * P2) & MASK, 31n) * P1) & MASK;
const merge = (h, acc) => (((h ^ round(0n, acc)) * P1) + P4) & MASK;

export function xxh64(bytes, seed = 0n) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  let i = 0;
  let h;
  if (n >= 32) {
    let v1 = (seed + P1 + P2) & MASK;
    let v2 = (seed + P2) & MASK;
    let v3 = seed & MASK;
    let v4 = (seed - P1) & MASK;
    for (; i + 32 <= n; i += 32) {
      v1 = round(v1, view.getBigUint64(i, true));
      v2 = round(v2, view.getBigUint64(i + 8, true));
      v3 = round(v3, view.getBigUint64(i + 16, true));
      v4 = round(v4, view.getBigUint64(i + 24, true));
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & MASK;
    for (const v of [v1, v2, v3, v4]) h = merge(h, v);
  } else {
    h = (seed + P5) & MASK;
  }
  h = (h + BigInt(n)) & MASK;
  for (; i + 8 <= n; i += 8) {
    h ^= round(0n, view.getBigUint64(i, true));
    h = (rotl(h, 27n) * P1 + P4) & MASK;
  }
  if (i + 4 <= n) {
    h ^= (BigInt(view.getUint32(i, true)) * P1) & MASK;
    h = (rotl(h, 23n) * P2 + P3) & MASK;
    i += 4;
  }
  for (; i < n; i++) {
    h ^= (BigInt(bytes[i]) * P5) & MASK;
    h = (rotl(h, 11n) * P1) & MASK;
  }
  h ^= h >> 33n;
  h = (h * P2) & MASK;
  h ^= h >> 29n;
  h = (h * P3) & MASK;
  h ^= h >> 32n;
  return h;
}

// --- the state checksum ----------------------------------------------------------

// 16 lowercase hex digits: xxHash64 (seed 0) of the UTF-8 canonical JSON.
export function checksum(value) {
  return xxh64(new TextEncoder().encode(canonical(value))).toString(16).padStart(16, '0');
}

function checkVectors(path) {
  const { vectors } = JSON.parse(readFileSync(path, 'utf8'));
  let failures = 0;
  vectors.forEach((vector, i) => {
    const value = JSON.parse(vector.json);
    const gotCanonical = canonical(value);
    const gotChecksum = checksum(value);
    if (gotCanonical !== vector.canonical || gotChecksum !== vector.checksum) {
      failures++;
      console.error(`vector ${i}: ${vector.json}`);
      console.error(`  canonical want ${vector.canonical}`);
      console.error(`            got  ${gotCanonical}`);
      console.error(`  checksum  want ${vector.checksum} got ${gotChecksum}`);
    }
  });
  console.log(`checksum.mjs: ${vectors.length} vectors, ${failures} mismatched`);
  return failures ? 1 : 0;
}

function main(args) {
  if (args.length === 2 && args[0] === '--check') return checkVectors(args[1]);
  if (args.length > 1 || (args.length === 1 && args[0].startsWith('--'))) {
    console.error('usage: node checksum.mjs [FILE|-] | --check VECTORS.json');
    return 2;
  }
  const text = readFileSync(args.length === 0 || args[0] === '-' ? 0 : args[0], 'utf8');
  const value = JSON.parse(text);
  process.stdout.write(canonical(value) + '\n' + checksum(value) + '\n');
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}

// What the reference scripts (reference_outputs.mjs, reference_emotion.mjs) share: reading the
// fixture crops, and loading a tfjs browser bundle in Node on tfjs's CPU backend.
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

// A uint8 [H][W][3] .npy file -> { shape, data }.
export function readNpyU8(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  if (!/'descr':\s*'\|u1'/.test(header)) throw new Error(`${file}: want uint8, header ${header}`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: fortran order`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  if (shape.length !== 3 || shape[2] !== 3) throw new Error(`${file}: want [H][W][3], got ${shape}`);
  return { shape, data: new Uint8Array(buf.buffer, buf.byteOffset + hstart + hlen, shape[0] * shape[1] * 3) };
}

// Imports a browser bundle with tfjs inside (face-api.esm.js, human's tfjs.esm.js) and readies its
// CPU backend; -> [the module, its tfjs]. The bundle's tfjs would install a Node platform that needs
// Node's util module, which the bundle stubs out; so Node is hidden while it loads, and tfjs then
// gets a small platform made of Node's own globals.
export async function importTfjsBundle(file, tfOf = (module) => module) {
  const savedVersions = process.versions;
  Object.defineProperty(process, 'versions', { value: { ...savedVersions, node: undefined }, configurable: true });
  let module;
  try {
    module = await import(pathToFileURL(file).href);
  } finally {
    Object.defineProperty(process, 'versions', { value: savedVersions, configurable: true });
  }
  const tf = tfOf(module);
  tf.env().setPlatform('node-globals', {
    fetch: (...a) => fetch(...a),
    now: () => performance.now(),
    encode: (s) => new TextEncoder().encode(s),
    decode: (b, enc) => new TextDecoder(enc).decode(b),
    isTypedArray: (a) => ArrayBuffer.isView(a) && !(a instanceof DataView),
    setTimeoutCustom: (f, t) => setTimeout(f, t),
  });
  await tf.setBackend('cpu');
  await tf.ready();
  return [module, tf];
}

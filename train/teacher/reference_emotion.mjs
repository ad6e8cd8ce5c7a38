// Runs the ORIGINAL @vladmandic/human emotion graph model (npm @vladmandic/human@3.3.6,
// models/emotion.json + .bin, with the tfjs human bundles in dist/tfjs.esm.js, CPU backend)
// offline on face crops, with human's own preprocessing steps (src/gear/emotion.ts, grey path:
// resizeBilinear to the input size, RGB weighted to grey, minus 0.5, times 2), and prints its
// probabilities in the net's label order.
//
//   node train/teacher/reference_emotion.mjs PACKAGE_DIR OUT.json CROP.npy...
//
// PACKAGE_DIR: the unpacked npm package (holds dist/ and models/), see fetch_human.sh.
// CROP.npy: uint8 [H][W][3] RGB face crops.
import fs from 'node:fs';
import path from 'node:path';
import { importTfjsBundle, readNpyU8 } from './node_tfjs.mjs';

const [pkgDir, outFile, ...crops] = process.argv.slice(2);
if (!pkgDir || !outFile || crops.length === 0) {
  console.error('usage: reference_emotion.mjs PACKAGE_DIR OUT.json CROP.npy...');
  process.exit(2);
}
const [tf] = await importTfjsBundle(path.join(pkgDir, 'dist', 'tfjs.esm.js'));

const modelDir = path.join(pkgDir, 'models');
const json = JSON.parse(fs.readFileSync(path.join(modelDir, 'emotion.json'), 'utf8'));
const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(modelDir, p))));
const all = Buffer.concat(buffers);
const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
const model = await tf.loadGraphModel(tf.io.fromMemory({
  modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData,
}));
const size = model.inputs[0].shape[2];

const results = [];
for (const file of crops) {
  const { shape, data } = readNpyU8(file);
  // human's face tensors are float 0..1 (its image pipeline divides by 255).
  const image = tf.tidy(() => tf.div(tf.tensor4d(Float32Array.from(data), [1, ...shape]), 255));
  const probs = tf.tidy(() => {
    const resize = tf.image.resizeBilinear(image, [size, size], false);
    const grey = tf.sum(tf.mul(resize, tf.tensor1d([0.2989, 0.5870, 0.1140], 'float32')), 3, true);
    return model.execute(tf.mul(tf.sub(grey, tf.scalar(0.5)), tf.scalar(2)));
  });
  results.push({ crop: path.basename(file), shape, probs: Array.from(await probs.data()) });
  image.dispose();
  probs.dispose();
}
const out = {
  source: '@vladmandic/human@3.3.6 models/emotion.json, dist/tfjs.esm.js tfjs ' + tf.version_core +
    ', backend ' + tf.getBackend(),
  labels: ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'],
  results,
};
fs.writeFileSync(outFile, JSON.stringify(out, null, 1) + '\n');
console.log(`reference_emotion: ${results.length} crops -> ${outFile} (${out.source})`);

// Runs the ORIGINAL face-api FaceExpressionNet (npm @vladmandic/face-api@1.7.15, the tfjs it
// bundles in dist/face-api.esm.js, CPU backend) offline on face crops and prints its probabilities;
// with --landmarks, also its FaceLandmark68Net on the same crops.
//
//   node train/teacher/reference_outputs.mjs [--landmarks LANDMARKS.json] PACKAGE_DIR OUT.json CROP.npy...
//
// PACKAGE_DIR: the unpacked npm package (holds dist/ and model/), see fetch_faceapi.sh.
// CROP.npy: uint8 [H][W][3] RGB face crops (any size: face-api pads to square and resizes).
// The crops go in as tf tensors, so the original's own preprocessing runs (toBatchTensor(112):
// padToSquare centred, resizeBilinear, mean RGB subtraction, / 255).
// LANDMARKS.json gets, per crop, three forms of the 68 points (x, y):
//   net:       the FC's 136 outputs as the net gives them (runNet), relative to the padded 112 x 112
//              square input, before FaceLandmark68NetBase.postProcess;
//   relative:  after postProcess (net * 112, minus the centring pad |w' - h'| / 2 on the short
//              side, divided by the scaled crop size w', h'): relative to the unpadded crop;
//   positions: detectLandmarks(...).positions, relative times the crop's width and height (pixels).
import fs from 'node:fs';
import path from 'node:path';
import { importTfjsBundle, readNpyU8 } from './node_tfjs.mjs';

const args = process.argv.slice(2);
let landmarksFile = null;
if (args[0] === '--landmarks') { landmarksFile = args[1]; args.splice(0, 2); }
const [pkgDir, outFile, ...crops] = args;
if (!pkgDir || !outFile || crops.length === 0) {
  console.error('usage: reference_outputs.mjs [--landmarks LANDMARKS.json] PACKAGE_DIR OUT.json CROP.npy...');
  process.exit(2);
}
// dist/face-api.esm.js is the browser bundle (tfjs inside, CPU backend included).
const [faceapi, tf] = await importTfjsBundle(path.join(pkgDir, 'dist', 'face-api.esm.js'), (m) => m.tf);

// face-api's own environment: only tensors go in, so no Canvas/Image implementation is needed.
class None_ {}
faceapi.env.setEnv({
  Canvas: None_, CanvasRenderingContext2D: None_, Image: None_, ImageData: None_, Video: None_,
  createCanvasElement: () => { throw new Error('no canvas'); },
  createImageElement: () => { throw new Error('no image'); },
  createVideoElement: () => { throw new Error('no video'); },
  fetch: () => { throw new Error('offline'); },
  readFile: () => { throw new Error('no readFile'); },
});

const modelDir = path.join(pkgDir, 'model');
function loadWeightMap(name) {
  const manifest = JSON.parse(fs.readFileSync(path.join(modelDir, `${name}-weights_manifest.json`), 'utf8'));
  const buffers = [];
  for (const group of manifest) for (const p of group.paths) buffers.push(fs.readFileSync(path.join(modelDir, p)));
  const all = Buffer.concat(buffers);
  const ab = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tf.io.decodeWeights(ab, manifest.flatMap((g) => g.weights));
}
const net = new faceapi.FaceExpressionNet();
net.loadFromWeightMap(loadWeightMap('face_expression_model'));

const results = [];
for (const file of crops) {
  const { shape, data } = readNpyU8(file);
  const input = tf.tensor3d(Int32Array.from(data), shape, 'int32');
  const probs = await net.predictExpressions(input);
  const ordered = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'].map((k) => probs[k]);
  results.push({ crop: path.basename(file), shape, probs: ordered });
  input.dispose();
}
const out = {
  source: '@vladmandic/face-api@1.7.15 dist/face-api.esm.js, tfjs ' + tf.version_core + ', backend ' + tf.getBackend(),
  labels: ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'],
  results,
};
fs.writeFileSync(outFile, JSON.stringify(out, null, 1) + '\n');
console.log(`reference_outputs: ${results.length} crops -> ${outFile} (${out.source})`);

if (landmarksFile) {
  const lm = new faceapi.FaceLandmark68Net();
  lm.loadFromWeightMap(loadWeightMap('face_landmark_68_model'));
  const pairs = (a) => Array.from({ length: 68 }, (_, i) => [a[2 * i], a[2 * i + 1]]);
  const lmResults = [];
  for (const file of crops) {
    const { shape, data } = readNpyU8(file);
    const input = tf.tensor3d(Int32Array.from(data), shape, 'int32');
    const netInput = await faceapi.toNetInput(input);
    const raw = lm.runNet(netInput);                    // [1, 136], before postProcess
    const netOut = Array.from(await raw.data());
    raw.dispose();
    const post = lm.forwardInput(netInput);             // runNet + postProcess
    const relOut = Array.from(await post.data());
    post.dispose();
    const marks = await lm.detectLandmarks(input);      // FaceLandmarks68 of the crop
    lmResults.push({
      crop: path.basename(file), shape, net: pairs(netOut), relative: pairs(relOut),
      positions: marks.positions.map((p) => [p.x, p.y]),
    });
    input.dispose();
  }
  const lmOut = {
    source: '@vladmandic/face-api@1.7.15 dist/face-api.esm.js FaceLandmark68Net, tfjs ' + tf.version_core +
      ', backend ' + tf.getBackend(),
    points: '68 x [x, y], iBUG 300-W order; net: FC outputs relative to the padded 112 x 112 input; ' +
      'relative: after postProcess, relative to the crop; positions: pixels of the crop',
    results: lmResults,
  };
  // One point per line: [x, y] arrays of numbers collapsed.
  const text = JSON.stringify(lmOut, null, 1).replace(/\[\s*([-0-9.e]+),\s*([-0-9.e]+)\s*\]/g, '[$1, $2]');
  fs.writeFileSync(landmarksFile, text + '\n');
  console.log(`reference_outputs: ${lmResults.length} crops -> ${landmarksFile} (landmarks)`);
}

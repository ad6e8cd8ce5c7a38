#!/usr/bin/env python3
"""`adatosk run --json` against the table `adatosk run` prints, against itself
and against the PyTorch reference of the parity fixture.

- every number of the table is the JSON's value printed the table's way, and
  the label, the kept count and the slot rows agree;
- every float in the JSON is a float32 value exactly (written at round-trip
  precision, not rounded like the table);
- the JSON is the forward's output, not a shuffle of it: the spec's tolerances
  against the float64 reference (expected.json), the same kept tokens, each
  slot's kept fraction equal to its share of the kept token indices, probs the
  softmax of logits;
- a NaN clip with --json: exit 1, the message on stderr, nothing on stdout.
usage: cli-json.py ADATOSK FIXTURE_DIR (a parity case, e.g. .../parity/odd)
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

tool, fixture = sys.argv[1], sys.argv[2]
model = os.path.join(fixture, "model.safetensors")
clip = os.path.join(fixture, "clip.f32")
# One thread: the two runs must do the same arithmetic in the same order.
args = [tool, "run", model, clip, "--backend", "cpu", "--threads", "1"]


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def f32(value):
    return struct.unpack("<f", struct.pack("<f", value))[0]


table = subprocess.run(args, check=True, capture_output=True, text=True).stdout
raw = subprocess.run(args + ["--json"], check=True, capture_output=True, text=True).stdout
if raw.count("\n") != 1:
    fail("--json must print one object on one line")
out = json.loads(raw)
print(raw[:300] + "...")

# The table, line by line.
lines = table.splitlines()
labels = out["labels"]
prob_lines = [l for l in lines if l.split()[0] in labels and len(l.split()) == 2]
if len(prob_lines) != len(labels):
    fail(f"table has {len(prob_lines)} probability rows, JSON {len(labels)} labels")
for i, line in enumerate(prob_lines):
    name, value = line.split()
    if name != labels[i] or value != "%.6f" % out["probs"][i]:
        fail(f"table row '{line}' != JSON {labels[i]} {out['probs'][i]!r}")
label = next(l for l in lines if l.startswith("label: ")).split(": ", 1)[1]
if label != out["label"] or labels[out["label_id"]] != label:
    fail(f"label: table {label}, JSON {out['label']} ({out['label_id']})")
if out["confidence"] != out["probs"][out["label_id"]] or out["confidence"] != max(out["probs"]):
    fail("confidence is not the highest probability")
kept_line = next(l for l in lines if l.startswith("kept tokens: "))
if kept_line != f"kept tokens: {out['num_kept']} of {out['num_tokens']}":
    fail(f"'{kept_line}' vs JSON {out['num_kept']} of {out['num_tokens']}")
header = lines.index("slot  frames    significance  kept")
slot_rows = lines[header + 1:]
if len(slot_rows) != out["num_slots"]:
    fail(f"{len(slot_rows)} slot rows, JSON num_slots {out['num_slots']}")
tau = out["tubelet_size"]
for t, row in enumerate(slot_rows):
    want = "%4d  %3d-%-3d   %12.6f  %.3f" % (t, t * tau, (t + 1) * tau - 1,
                                            out["significance"][t], out["kept_fraction"][t])
    if row != want:
        fail(f"slot row '{row}' != JSON's '{want}'")

# Round-trip precision: every float is exactly a float32.
floats = 0
for key in ("logits", "probs", "significance", "kept_fraction", "token_mask"):
    for v in out[key]:
        floats += 1
        if f32(v) != v:
            fail(f"{key} value {v!r} is not a float32 written at full precision")
if f32(out["confidence"]) != out["confidence"]:
    fail("confidence is not written at full precision")

# The forward's outputs, against the float64 reference (docs/model.md tolerances).
with open(os.path.join(fixture, "expected.json")) as f:
    ref = json.load(f)
if out["kept_tokens"] != ref["kept_tokens"] or out["kept_tokens"] != sorted(out["kept_tokens"]):
    fail(f"kept tokens {out['kept_tokens']} != reference {ref['kept_tokens']}")
if len(out["kept_tokens"]) != out["num_kept"] or len(out["token_mask"]) != out["num_tokens"]:
    fail("array lengths disagree with num_kept / num_tokens")
err = sum((a - b) ** 2 for a, b in zip(out["logits"], ref["logits"]))
nmse = err / sum(b ** 2 for b in ref["logits"])
if len(out["logits"]) != len(ref["logits"]) or nmse > 1e-10:
    fail(f"logits NMSE {nmse:.3g} > 1e-10")
for key, tol in (("probs", 1e-6), ("significance", 1e-5), ("token_mask", 1e-5),
                 ("kept_fraction", 1e-6)):
    worst = max(abs(a - b) for a, b in zip(out[key], ref[key]))
    if len(out[key]) != len(ref[key]) or worst > tol:
        fail(f"{key}: max error {worst:.3g} > {tol}")
spatial = out["num_tokens"] // out["num_slots"]
for t in range(out["num_slots"]):
    share = sum(1 for k in out["kept_tokens"] if k // spatial == t) / spatial
    if abs(out["kept_fraction"][t] - share) > 1e-6:
        fail(f"slot {t}: kept_fraction {out['kept_fraction'][t]} != {share} from kept_tokens")
top = max(out["logits"])
z = sum(math.exp(x - top) for x in out["logits"])
if max(abs(math.exp(x - top) / z - p) for x, p in zip(out["logits"], out["probs"])) > 1e-6:
    fail("probs are not the softmax of logits")

# A clip the library refuses: no JSON, the error on stderr.
with tempfile.TemporaryDirectory() as tmp:
    data = bytearray(open(clip, "rb").read())
    data[400:404] = struct.pack("<f", float("nan"))
    bad = os.path.join(tmp, "nan.f32")
    open(bad, "wb").write(data)
    run = subprocess.run([tool, "run", model, bad, "--backend", "cpu", "--json"],
                         capture_output=True, text=True)
    if run.returncode != 1 or run.stdout or "NaN" not in run.stderr:
        fail(f"NaN clip with --json: exit {run.returncode}, stdout {run.stdout!r}, "
             f"stderr {run.stderr!r}")

print(f"ok: {floats} floats at full precision, table and reference agree "
      f"(logits NMSE {nmse:.2g})")

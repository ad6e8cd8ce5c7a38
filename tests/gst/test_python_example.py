#!/usr/bin/env python3
"""docs/examples/read_results.py on the real face video: it runs, and what its
pad probe read from the buffers is what the bus said: for every result the
probe printed, a bus line of the same track and clip with the same label,
confidence and probabilities; nearly every clip of the main face (track 1, found
on every frame) read in the probe. Not every one: the probe sees the ROI with
id 0 only (see the example), and facedetect's order of faces varies from run to
run, so on the few frames with a false second face it may come first.
usage: test_python_example.py EXAMPLE MODEL (meson sets ADATOSK_FETCH_MEDIA and
ADATOSK_MEDIA_DIR: the video is fetched there; exit 77, a skip, without npm)
"""
import os
import re
import subprocess
import sys

example, model = sys.argv[1:3]
media = os.environ["ADATOSK_MEDIA_DIR"]
fetched = subprocess.run([os.environ["ADATOSK_FETCH_MEDIA"], media])
if fetched.returncode != 0:
    sys.exit(fetched.returncode)
video = os.path.join(media, "cap12_edit.webm")
run = subprocess.run(["/usr/bin/python3", example, video, model],
                     capture_output=True, text=True, timeout=900)
if run.returncode != 0:
    print(run.stdout[-3000:], run.stderr[-3000:])
    sys.exit("FAIL: the example exited with %d" % run.returncode)

line_re = re.compile(r"^(probe|bus) +(\S+) - (\S+) track (\d+) (\S+) ([0-9.]+)(.*)$")
results = {"probe": {}, "bus": {}}
for line in run.stdout.splitlines():
    m = line_re.match(line)
    if m:
        kind, start, end, track, label, conf, rest = m.groups()
        results[kind][(int(track), start)] = (label, conf, rest.split(" box ")[0])
probe, bus = results["probe"], results["bus"]
print(run.stdout.splitlines()[-1])
if not bus:
    sys.exit("FAIL: no results on the bus")
if "[" not in next(iter(bus.values()))[2]:
    sys.exit("FAIL: no probabilities printed (python3-gst-1.0 missing?)")
for key, value in probe.items():
    if bus.get(key) != value:
        sys.exit("FAIL: probe read %s %s, the bus said %s" % (key, value, bus.get(key)))
main = [k for k in bus if k[0] == 1]
missing = [k for k in main if k not in probe]
print("main face: %d clips, %d not read in the probe %s" % (len(main), len(missing), missing[:5]))
if not main or len(missing) > 0.05 * len(main):
    sys.exit("FAIL: %d of %d clips of the main face not read in the probe"
             % (len(missing), len(main)))
labels = sorted(set(v[0] for v in bus.values()))
print("ok: %d bus results, %d read in the probe with the same label, confidence and "
      "probabilities; labels %s" % (len(bus), len(probe), labels))

#!/usr/bin/env python3
"""Reads adatoskdfer's results from Python (PyGObject), two ways, on a video:

- in a pad probe, from the buffers: the "expression" param of the face's
  GstVideoRegionOfInterestMeta (label, label_id, confidence, model_name,
  track-id, clip-start, clip-end) and the AdatoskDferMeta custom meta
  (probabilities, labels, significance, kept-fraction);
- from the bus: the "adatoskdfer" element message of each classified clip
  (the same fields plus the face box).

What Python can reach on a buffer is limited by GstVideo's introspection:
GstVideo.buffer_get_video_region_of_interest_meta_id() finds one ROI by id and
facedetect gives every face id 0, Gst.Buffer.get_custom_meta() returns the
first custom meta, and Gst.Buffer.foreach_meta() needs a writable buffer,
which a probe does not get. So the probe sees the first face of each frame;
for every face use the bus messages (or results-location=FILE, JSON lines).
The arrays (probabilities...) are GstValueArrays, which need gst-python's
overrides (Debian: python3-gst-1.0); without them this prints label and
confidence only.

usage: read_results.py VIDEO [MODEL]   (MODEL: default, the built-in model)
Prints "probe ..." and "bus ..." lines, one per classified clip:
  bus   0:00:00.480 - 0:00:01.120 track 1 surprised 0.880 [neutral 0.031 ...]
"""
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstVideo  # noqa: E402

# The probe runs on the streaming thread, the bus loop on the main thread.
print_lock = threading.Lock()


def say(line):
    with print_lock:
        print(line, flush=True)


def seconds(ns):
    return "%d:%02d:%06.3f" % (ns // 3600_000_000_000, ns // 60_000_000_000 % 60,
                               ns / 1e9 % 60)


def array(structure, field):
    """A GstValueArray field as a list; None without gst-python's overrides."""
    try:
        return list(structure.get_value(field).array)
    except (TypeError, AttributeError):
        return None


def describe(kind, s):
    """One line for a result structure (ROI param, custom meta or message)."""
    line = "%-5s %s - %s track %d %s %.3f" % (
        kind, seconds(s.get_value("clip-start")), seconds(s.get_value("clip-end")),
        s.get_value("track-id"), s.get_value("label"), s.get_value("confidence"))
    probs, labels = array(s, "probabilities"), array(s, "labels")
    if probs is not None and labels is not None:
        line += " [" + " ".join("%s %.3f" % (n, p) for n, p in zip(labels, probs)) + "]"
    return line


class Reader:
    def __init__(self):
        self.seen = set()  # (track, clip-start): a result stays on the track's frames

    def on_buffer(self, pad, info):
        buf = info.get_buffer()
        roi = GstVideo.buffer_get_video_region_of_interest_meta_id(buf, 0)
        param = roi.get_param("expression") if roi is not None else None
        if param is None:
            return Gst.PadProbeReturn.OK
        key = (param.get_value("track-id"), param.get_value("clip-start"))
        if key in self.seen:
            return Gst.PadProbeReturn.OK
        self.seen.add(key)
        # The custom meta of the same clip carries the arrays.
        meta = buf.get_custom_meta("AdatoskDferMeta")
        full = meta.get_structure() if meta is not None else None
        if full is not None and (full.get_value("track-id"),
                                 full.get_value("clip-start")) == key:
            line = describe("probe", full)
        else:
            line = describe("probe", param)
        say(line + " box %d,%d %dx%d" % (roi.x, roi.y, roi.w, roi.h))
        return Gst.PadProbeReturn.OK


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    Gst.init(None)
    model = ' model="%s"' % sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else ""
    pipeline = Gst.parse_launch(
        'filesrc location="%s" ! decodebin ! videoconvert ! facedetect display=false ! '
        "adatoskdfer name=dfer inference-mode=sync%s ! fakesink name=sink" % (sys.argv[1], model))
    reader = Reader()
    pipeline.get_by_name("sink").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, reader.on_buffer)

    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    messages = 0
    while True:
        msg = bus.timed_pop_filtered(Gst.CLOCK_TIME_NONE,
                                     Gst.MessageType.ELEMENT | Gst.MessageType.EOS
                                     | Gst.MessageType.ERROR)
        if msg.type == Gst.MessageType.ERROR:
            error, debug = msg.parse_error()
            pipeline.set_state(Gst.State.NULL)
            sys.exit("read_results: %s (%s)" % (error.message, debug))
        if msg.type == Gst.MessageType.EOS:
            break
        s = msg.get_structure()
        if s is not None and s.get_name() == "adatoskdfer":
            messages += 1
            say(describe("bus", s) + " box %d,%d %dx%d" % tuple(
                s.get_value(f) for f in ("x", "y", "width", "height")))
    pipeline.set_state(Gst.State.NULL)
    say("read_results: %d results on the bus, %d read in the probe" % (
        messages, len(reader.seen)))


if __name__ == "__main__":
    main()

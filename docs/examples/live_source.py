#!/usr/bin/python3
"""A video file played as a live source into adatoskdfer, to see what async mode does when the
model cannot keep up (a camera behaves like this; a file upstream is not live, and then async mode
makes the stream wait instead of dropping clips).

  GST_DEBUG=adatoskdfer*:6 docs/examples/live_source.py VIDEO MODEL [FRAMES]

The file is decoded by one pipeline and its frames pushed at 25 fps into `appsrc is-live=true !
videoconvert ! facedetect ! adatoskdfer inference-mode=async batch-size=1`, timestamped on arrival.
With a model slower than the clips come in (e.g. adatosk-b: `train/make_model.py --config adatosk-b
--no-decoder --dtype f16 --out b.safetensors`), the log shows "behind: dropping the waiting clip"
and the element's `clips-dropped` counts them. Prints frames pushed and clips dropped.
"""

import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    video, model = argv[0], argv[1]
    frames = int(argv[2]) if len(argv) > 2 else 500
    Gst.init(None)
    decode = Gst.parse_launch("filesrc name=f ! decodebin ! videoconvert ! video/x-raw,format=RGB ! "
                              "appsink name=out sync=false max-buffers=4")
    decode.get_by_name("f").set_property("location", video)
    live = Gst.parse_launch("appsrc name=in is-live=true format=time do-timestamp=true ! videoconvert ! "
                            "facedetect display=false ! adatoskdfer name=dfer inference-mode=async "
                            "batch-size=1 threads=1 ! fakesink sync=false")
    dfer = live.get_by_name("dfer")
    dfer.set_property("model", model)
    src, sink = live.get_by_name("in"), decode.get_by_name("out")
    decode.set_state(Gst.State.PLAYING)
    first = sink.emit("pull-sample")
    if first is None:
        raise SystemExit(f"{video}: no frames")
    src.set_property("caps", first.get_caps())
    live.set_state(Gst.State.PLAYING)
    t0, n, sample = time.time(), 0, first
    while sample is not None and n < frames:
        buf = sample.get_buffer().copy()
        buf.pts = buf.dts = Gst.CLOCK_TIME_NONE        # appsrc stamps it on arrival, like a camera
        src.emit("push-buffer", buf)
        n += 1
        time.sleep(max(0.0, t0 + n / 25.0 - time.time()))
        sample = sink.emit("pull-sample")
    src.emit("end-of-stream")
    msg = live.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    if msg is not None and msg.type == Gst.MessageType.ERROR:
        raise SystemExit(f"live_source: {msg.parse_error()[0].message}")
    print(f"frames {n}, clips dropped {dfer.get_property('clips-dropped')}")
    live.set_state(Gst.State.NULL)
    decode.set_state(Gst.State.NULL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

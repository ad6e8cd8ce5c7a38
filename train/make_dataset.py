#!/usr/bin/python3
"""Face video -> training clips, cut the way the adatoskdfer element cuts them at inference.

  make_dataset.py --out DIR [--config adatosk-tiny | --model M.safetensors] \
      [--teacher FACEAPI_DIR] [--label-csv LABELS.csv] VIDEO_OR_FRAME_FOLDER...

Unlabelled face video, teacher labels (what made the default model):
  make_dataset.py --out ds12 --teacher ~/.cache/adatoskdfer/face-api cap12_edit.webm
DFEW-style data (video files or folders of numbered frames 00001.jpg..., one label per video in a
CSV "name,label" with the name of the file or folder and a class name or index):
  make_dataset.py --out dfew --label-csv labels.csv videos/*.avi   (or frames/*/)

For every video: `filesrc ! decodebin ! videoconvert ! facedetect display=false ! appsink` (RGB);
the face boxes facedetect attaches (GstVideoRegionOfInterestMeta "face") go through the element's
tracker (gst-plugin/track.c: greedy IoU matching, iou-threshold 0.3, track-timeout 10, max-tracks 4,
a track samples every frame-step-th frame of its age, a clip every clip-stride samples once it holds
num_frames), and each sampled frame is cropped by the element's crop code path
(gst-plugin/crop.c: the box grown by crop-margin 0.25 on every side, then to the model's aspect,
centred; the inside-the-frame part scaled by GstVideoConverter with the element's exact options into
RGB at the model size, the outside filled with the mean colour). The converter runs through ctypes on
libgstvideo-1.0, the very scaler the element calls; the tracker and the region arithmetic are a line
by line Python port of track.c/crop.c (the element exposes no crops; see --help-hook). Checked: on
cap13_edit2.webm the element (facedetect ! adatoskdfer model=M) classifies the same 97 clips (track
ids, start times) that this tool writes, and M gives the same probabilities on them (2.6e-7).
One difference: before the first face ROI the element (roi-mode auto) classifies full frames; this
tool skips those frames (the face videos have faces from frame 0).

Writes DIR/clips/*.npy (uint8 [T][H][W][3], before normalisation), DIR/clips.csv
(path,label,video,track,start_ns,end_ns,teacher_top) and DIR/frames.npz (per sampled crop: video,
track, pts, teacher probabilities). Labels: with --teacher, the mean of the teacher's probabilities
over the clip's frames (soft label vector); with --label-csv (video file name,label: DFEW style),
that video's label for all its clips.
"""

import argparse
import csv
import ctypes
import ctypes.util
import json
import os
import re
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gi  # noqa: E402
gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

from adatosk.config import DEFAULT_LABELS, named_config, NAMED_CONFIGS  # noqa: E402

HOOK = """The element does not expose its crops. The hook that would make this tool use the element
itself (no port at all): a property dump-location=DIR (string, default NULL) on adatoskdfer; when
set, classify() writes for each clip it classifies DIR/track<id>-<clip-start-ns>.npy holding the
clip's input exactly as the model gets it (float32 [3][T][H][W], normalised: the adatosk run CLIP
format), plus one JSON line appended to DIR/clips.jsonl: {"file", "track", "start", "end" (ns),
"pts": [per frame], "boxes": [[x,y,w,h] per frame]}. Training de-normalises (x * std + mean) * 255,
which gives back the converter's bytes exactly."""


# ---------------------------------------------------------------------------------------------
# The element's tracker (gst-plugin/track.c), ported line by line

def box_iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if a[2] <= 0 or a[3] <= 0 or b[2] <= 0 or b[3] <= 0 or x1 <= x0 or y1 <= y0:
        return 0.0
    inter = float(x1 - x0) * float(y1 - y0)
    return inter / (float(a[2]) * a[3] + float(b[2]) * b[3] - inter)


class Track:
    def __init__(self, tid, box, capacity):
        self.id, self.box, self.capacity = tid, box, capacity
        self.age = self.missed = 0
        self.frames = []          # (pts, crop key) of the last `capacity` samples
        self.since_last = 0
        self.classified = False


class Tracker:
    def __init__(self, max_tracks=4, timeout=10, iou_threshold=0.3, ring=16):
        self.tracks, self.next_id = [], 1
        self.max_tracks, self.timeout, self.iou_threshold, self.ring = max_tracks, timeout, iou_threshold, ring

    def update(self, boxes):
        n_tracks = len(self.tracks)
        used = [False] * n_tracks
        matches = [None] * len(boxes)
        while True:
            best, bb, bt = 0.0, -1, -1
            for i, b in enumerate(boxes):
                if matches[i] is not None:
                    continue
                for t in range(n_tracks):
                    if used[t]:
                        continue
                    iou = box_iou(b, self.tracks[t].box)
                    if iou > best and iou >= self.iou_threshold:
                        best, bb, bt = iou, i, t
            if bb < 0:
                break
            matches[bb] = self.tracks[bt]
            used[bt] = True
        for t in range(n_tracks - 1, -1, -1):
            tr = self.tracks[t]
            tr.age += 1
            if used[t]:
                tr.missed = 0
            else:
                tr.missed += 1
                if tr.missed >= self.timeout:
                    del self.tracks[t]
        for i, b in enumerate(boxes):
            if matches[i] is not None:
                matches[i].box = b
            elif len(self.tracks) < self.max_tracks:
                tr = Track(self.next_id, b, self.ring)
                self.next_id += 1
                self.tracks.append(tr)
                matches[i] = tr
        return matches


# ---------------------------------------------------------------------------------------------
# The element's crop (gst-plugin/crop.c): region arithmetic + GstVideoConverter via ctypes

def lrint(v):
    """C lrint in the default rounding mode: to nearest, ties to even."""
    return int(round(v))


def crop_region(box, width, height, margin):
    aspect = width / height
    w = box[2] * (1.0 + 2.0 * margin)
    h = box[3] * (1.0 + 2.0 * margin)
    cx, cy = box[0] + box[2] / 2.0, box[1] + box[3] / 2.0
    if w < h * aspect:
        w = h * aspect
    else:
        h = w / aspect
    w, h = min(w, float(1 << 24)), min(h, float(1 << 24))
    rw, rh = max(1, lrint(w)), max(1, lrint(h))
    return lrint(cx - rw / 2.0), lrint(cy - rh / 2.0), rw, rh


def map_span(a, b, length, size):
    s = lrint(a * size / length)
    e = lrint(b * size / length)
    s = min(max(s, 0), size - 1)
    e = min(max(e, s + 1), size)
    return s, e - s


def to_byte(v):
    return min(max(lrint(np.float32(v) * np.float32(255.0)), 0), 255)


class Cropper:
    """adatosk_cropper_run without the normalisation: uint8 RGB [H][W][3] at the model size."""

    def __init__(self, caps_string, width, height, mean, margin):
        self.gst = ctypes.CDLL(ctypes.util.find_library("gstreamer-1.0") or "libgstreamer-1.0.so.0")
        self.gv = ctypes.CDLL(ctypes.util.find_library("gstvideo-1.0") or "libgstvideo-1.0.so.0")
        P, I, U = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint
        for lib, name, res, args in [
                (self.gst, "gst_caps_from_string", P, [ctypes.c_char_p]),
                (self.gst, "gst_caps_unref", None, [P]),
                (self.gst, "gst_structure_new_from_string", P, [ctypes.c_char_p]),
                (self.gst, "gst_buffer_new_allocate", P, [P, ctypes.c_size_t, P]),
                (self.gst, "gst_buffer_fill", ctypes.c_size_t, [P, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]),
                (self.gst, "gst_buffer_extract", ctypes.c_size_t, [P, ctypes.c_size_t, P, ctypes.c_size_t]),
                (self.gst, "gst_mini_object_unref", None, [P]),
                (self.gv, "gst_video_info_new", P, []),
                (self.gv, "gst_video_info_free", None, [P]),
                (self.gv, "gst_video_info_from_caps", I, [P, P]),
                (self.gv, "gst_video_info_set_format", I, [P, I, U, U]),
                (self.gv, "gst_video_converter_new", P, [P, P, P]),
                (self.gv, "gst_video_converter_free", None, [P]),
                (self.gv, "gst_video_converter_frame", None, [P, P, P]),
                (self.gv, "gst_video_frame_map", I, [P, P, P, I]),
                (self.gv, "gst_video_frame_unmap", None, [P])]:
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        self.width, self.height, self.margin = width, height, margin
        caps = self.gst.gst_caps_from_string(caps_string.encode())
        self.in_info = self.gv.gst_video_info_new()
        if not self.gv.gst_video_info_from_caps(self.in_info, caps):
            raise RuntimeError(f"cannot parse caps {caps_string}")
        self.gst.gst_caps_unref(caps)
        s = Gst.Caps.from_string(caps_string).get_structure(0)
        self.fw, self.fh = s.get_value("width"), s.get_value("height")
        m = re.search(r"framerate=\(fraction\)(\d+)/(\d+)", caps_string)
        fps_n, fps_d = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
        m = re.search(r"interlace-mode=\(string\)([a-z]+)", caps_string)
        interlace = m.group(1) if m else "progressive"
        # The element's out_info: RGB at the model size, the input's rate and interlace mode.
        self.out_info = self.gv.gst_video_info_new()
        self.gv.gst_video_info_set_format(self.out_info, int(GstVideo.VideoFormat.RGB), width, height)
        self._fix_out_info(fps_n, fps_d, interlace)
        self.border = 0xFF000000 | (to_byte(mean[0]) << 16) | (to_byte(mean[1]) << 8) | to_byte(mean[2])
        self.in_size = self._info_size(self.in_info)
        self.out_size = self._info_size(self.out_info)
        self.out_stride = self._info_stride(self.out_info)
        self.in_buf = self.gst.gst_buffer_new_allocate(None, self.in_size, None)
        self.out_buf = self.gst.gst_buffer_new_allocate(None, self.out_size, None)
        if self._info_size(self.out_info) != self.out_stride * height or self.out_stride < 3 * width \
                or ctypes.c_int.from_address(self.in_info + 16).value != self.fw \
                or ctypes.c_int.from_address(self.in_info + 64).value != fps_n:
            raise RuntimeError("unexpected GstVideoInfo layout")
        self.converters = {}
        self.frame_a = ctypes.create_string_buffer(4096)
        self.frame_b = ctypes.create_string_buffer(4096)
        self.out_bytes = ctypes.create_string_buffer(self.out_size)

    # GstVideoInfo fields by their offsets in the public struct (LP64), checked in __init__.
    def _info_size(self, ptr):
        # GstVideoInfo: finfo*, interlace_mode, flags, width, height, size (gsize) ...
        # offsets on LP64: finfo 0, interlace 8, flags 12, width 16, height 20, size 24.
        return ctypes.c_size_t.from_address(ptr + 24).value

    def _info_stride(self, ptr):
        # ... views 32, chroma_site 36, colorimetry 40 (4 enums), par_n 56, par_d 60, fps_n 64,
        # fps_d 68, offset[4] at 72 (gsize), stride[4] at 104 (gint).
        return ctypes.c_int.from_address(ptr + 104).value

    def _fix_out_info(self, fps_n, fps_d, interlace):
        ctypes.c_int.from_address(self.out_info + 64).value = fps_n
        ctypes.c_int.from_address(self.out_info + 68).value = fps_d
        modes = {"progressive": 0, "interleaved": 1, "mixed": 2, "fields": 3, "alternate": 4}
        ctypes.c_int.from_address(self.out_info + 8).value = modes.get(interlace, 0)

    def _converter(self, g):
        conv = self.converters.get(g)
        if conv is not None:
            return conv
        if len(self.converters) >= 32:
            for c in self.converters.values():
                self.gv.gst_video_converter_free(c)
            self.converters.clear()
        keys = ["src-x", "src-y", "src-width", "src-height", "dest-x", "dest-y", "dest-width", "dest-height"]
        fields = ", ".join(f"GstVideoConverter.{k}=(int){v}" for k, v in zip(keys, g))
        cfg = self.gst.gst_structure_new_from_string(
            (f"adatosk-crop, {fields}, GstVideoConverter.fill-border=(boolean)true, "
             f"GstVideoConverter.border-argb=(uint){self.border}, GstVideoConverter.threads=(uint)1").encode())
        conv = self.gv.gst_video_converter_new(self.in_info, self.out_info, cfg)
        if not conv:
            raise RuntimeError(f"gst_video_converter_new failed for {g}")
        self.converters[g] = conv
        return conv

    def set_frame(self, data):
        if len(data) != self.in_size:
            raise ValueError(f"frame of {len(data)} bytes, caps say {self.in_size}")
        self.gst.gst_buffer_fill(self.in_buf, 0, data, len(data))

    def run(self, box):
        rx, ry, rw, rh = crop_region(box, self.width, self.height, self.margin)
        x0, y0 = max(rx, 0), max(ry, 0)
        x1, y1 = min(rx + rw, self.fw), min(ry + rh, self.fh)
        if x1 <= x0 or y1 <= y0:
            return None
        dx, dw = map_span(x0 - rx, x1 - rx, rw, self.width)
        dy, dh = map_span(y0 - ry, y1 - ry, rh, self.height)
        conv = self._converter((x0, y0, x1 - x0, y1 - y0, dx, dy, dw, dh))
        if not self.gv.gst_video_frame_map(self.frame_a, self.in_info, self.in_buf, 1):
            raise RuntimeError("map in")
        if not self.gv.gst_video_frame_map(self.frame_b, self.out_info, self.out_buf, 3):
            raise RuntimeError("map out")
        self.gv.gst_video_converter_frame(conv, self.frame_a, self.frame_b)
        self.gv.gst_video_frame_unmap(self.frame_b)
        self.gv.gst_video_frame_unmap(self.frame_a)
        self.gst.gst_buffer_extract(self.out_buf, 0, self.out_bytes, self.out_size)
        a = np.frombuffer(self.out_bytes.raw, dtype=np.uint8)
        a = a[: self.out_stride * self.height].reshape(self.height, self.out_stride)[:, : 3 * self.width]
        return a.reshape(self.height, self.width, 3).copy()


# ---------------------------------------------------------------------------------------------
# The pipeline

def frames_source(folder, fps="25/1"):
    """A folder of numbered frames (DFEW style: 00001.jpg, 00002.jpg, ...) as a GStreamer source."""
    names = sorted(f for f in os.listdir(folder) if re.match(r"^\D*\d+\.(jpe?g|png)$", f, re.I))
    if not names:
        raise SystemExit(f"{folder}: no numbered .jpg/.png frames")
    m = re.match(r"^(\D*)(\d+)\.(\w+)$", names[0])
    prefix, digits, ext = m.group(1), m.group(2), m.group(3)
    width = len(digits) if digits.startswith("0") else 0
    pattern = f"{prefix}%0{width}d.{ext}" if width else f"{prefix}%d.{ext}"
    mime = "image/png" if ext.lower() == "png" else "image/jpeg"
    return (f'multifilesrc location="{os.path.join(folder, pattern)}" start-index={int(digits)} '
            f'caps="{mime},framerate={fps}" ! decodebin')


def frames_with_faces(video):
    """Yields (pts, caps string, RGB bytes, [boxes]) per frame. The boxes are those facedetect
    attaches as ROI metas; read from its "facedetect" element message (same boxes, same order,
    posted from the streaming thread before the buffer goes on), caught synchronously."""
    Gst.init(None)
    if os.path.isdir(video):
        src = frames_source(video)
    else:
        src = f'filesrc location="{video}" ! decodebin'
    desc = (f'{src} ! videoconvert ! '
            'facedetect display=false ! appsink name=sink sync=false max-buffers=8 '
            'caps=video/x-raw,format=RGB')
    pipe = Gst.parse_launch(desc)
    sink = pipe.get_by_name("sink")
    faces = {}

    def on_sync(bus, msg):
        s = msg.get_structure()
        if s is not None and s.get_name() == "facedetect":
            # No gst-python overrides here (GstValueList is opaque to PyGObject): parse the text.
            text = s.to_string().replace("\\", "")
            boxes = [tuple(int(v) for v in m) for m in re.findall(
                r"x=\(uint\)(\d+), y=\(uint\)(\d+), width=\(uint\)(\d+), height=\(uint\)(\d+)", text)]
            faces[int(s.get_value("timestamp"))] = boxes

    bus = pipe.get_bus()
    bus.enable_sync_message_emission()
    bus.connect("sync-message::element", on_sync)
    pipe.set_state(Gst.State.PLAYING)
    try:
        while True:
            sample = sink.emit("pull-sample")
            if sample is None:
                break
            buf = sample.get_buffer()
            caps = sample.get_caps().to_string()
            boxes = faces.pop(int(buf.pts), [])
            ok, info = buf.map(Gst.MapFlags.READ)
            data = bytes(info.data)
            buf.unmap(info)
            yield buf.pts, caps, data, boxes
        msg = bus.pop_filtered(Gst.MessageType.ERROR)
        if msg is not None:
            err, dbg = msg.parse_error()
            raise RuntimeError(f"{video}: {err.message} ({dbg})")
    finally:
        pipe.set_state(Gst.State.NULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="*")
    ap.add_argument("--out", required=False)
    ap.add_argument("--config", default="adatosk-tiny", choices=sorted(NAMED_CONFIGS))
    ap.add_argument("--model", help="take num_frames/img_size/mean/frame_step from this model file")
    ap.add_argument("--crop-margin", type=float, default=0.25)
    ap.add_argument("--frame-step", type=int, default=0, help="0: the model's")
    ap.add_argument("--clip-stride", type=int, default=0, help="0: half the clip length")
    ap.add_argument("--max-tracks", type=int, default=4)
    ap.add_argument("--track-timeout", type=int, default=10)
    ap.add_argument("--iou-threshold", type=float, default=0.3)
    ap.add_argument("--teacher", help="face-api model dir (train/teacher/fetch_faceapi.sh DIR)")
    ap.add_argument("--label-csv", help="CSV: video file name,label (class name or index)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the teacher")
    ap.add_argument("--help-hook", action="store_true", help="print the element hook this tool would use")
    args = ap.parse_args()
    if args.help_hook:
        print(HOOK)
        return 0
    if not args.out or not args.videos:
        ap.error("--out and at least one VIDEO are needed")
    if bool(args.teacher) == bool(args.label_csv):
        ap.error("give exactly one of --teacher and --label-csv")

    if args.model:
        from adatosk.safetensors_io import read_safetensors
        from adatosk.config import AdatoskConfig
        _, _, meta = read_safetensors(args.model)
        cfg = AdatoskConfig.from_dict(json.loads(meta["adatosk.config"]))
        labels = json.loads(meta["adatosk.labels"])
    else:
        cfg = named_config(args.config)
        labels = DEFAULT_LABELS[:cfg.num_classes]
    T = cfg.num_frames
    H, W = cfg.img_hw
    frame_step = args.frame_step or max(cfg.frame_step or 1, 1)
    stride = args.clip_stride or max(T // 2, 1)

    hard = {}
    if args.label_csv:
        with open(args.label_csv) as f:
            for row in csv.reader(f):
                if not row or row[0].startswith("#"):
                    continue
                name, lab = row[0].strip(), row[1].strip()
                hard[os.path.basename(name)] = int(lab) if lab.isdigit() else labels.index(lab)
    teacher = None
    if args.teacher:
        import torch
        torch.set_num_threads(args.threads)
        from teacher.faceapi import FaceApiTeacher, LABELS as TLABELS
        if list(TLABELS) != list(labels):
            raise SystemExit(f"teacher labels {TLABELS} differ from the model's {labels}")
        teacher = FaceApiTeacher(args.teacher)

    os.makedirs(os.path.join(args.out, "clips"), exist_ok=True)
    rows, frame_rec = [], {"video": [], "track": [], "pts": [], "probs": []}
    for video in args.videos:
        video = video.rstrip("/") or video
        t0 = time.time()
        vname = os.path.splitext(os.path.basename(video))[0]
        tracker = Tracker(args.max_tracks, args.track_timeout, args.iou_threshold, T)
        cropper = None
        crops = {}            # key -> uint8 crop
        clips = []            # (track id, [keys], start, end)
        n_frames = 0
        seen_roi = False
        for pts, caps, data, boxes in frames_with_faces(video):
            n_frames += 1
            if cropper is None:
                cropper = Cropper(caps, W, H, cfg.mean, args.crop_margin)
            if not seen_roi:
                if not boxes:
                    continue          # the element samples the full frame until it sees a face ROI
                seen_roi = True
            tracker.update(boxes)
            cropper.set_frame(data)
            for tr in tracker.tracks:
                if tr.age % frame_step != 0:
                    continue
                key = (tr.id, n_frames)
                crop = cropper.run(tr.box)
                if crop is None:
                    crop = np.zeros((H, W, 3), np.uint8) + np.array(
                        [to_byte(m) for m in cfg.mean], np.uint8)
                crops[key] = (pts, crop)
                tr.frames = (tr.frames + [key])[-T:]
                tr.since_last += 1
                if len(tr.frames) >= T and (not tr.classified or tr.since_last >= stride):
                    clips.append((tr.id, list(tr.frames)))
                    tr.since_last = 0
                    tr.classified = True
        used = sorted({k for _, ks in clips for k in ks})
        probs = {}
        if teacher is not None and used:
            p = teacher.probs([crops[k][1] for k in used])
            probs = dict(zip(used, p))
            for k in used:
                frame_rec["video"].append(vname)
                frame_rec["track"].append(k[0])
                frame_rec["pts"].append(crops[k][0])
                frame_rec["probs"].append(probs[k])
        for i, (tid, keys) in enumerate(clips):
            arr = np.stack([crops[k][1] for k in keys])          # [T][H][W][3] uint8
            rel = os.path.join("clips", f"{vname}_t{tid}_{i:04d}.npy")
            np.save(os.path.join(args.out, rel), arr)
            start, end = crops[keys[0]][0], crops[keys[-1]][0]
            if teacher is not None:
                soft = np.mean([probs[k] for k in keys], axis=0)
                label = " ".join(f"{v:.6f}" for v in soft)
                top = labels[int(np.argmax(soft))]
            else:
                base = os.path.basename(video)
                if base not in hard:
                    raise SystemExit(f"{base} is not in {args.label_csv}")
                label, top = str(hard[base]), labels[hard[base]]
            rows.append([rel, label, vname, tid, start, end, top])
        print(f"make_dataset: {video}: {n_frames} frames, {len(tracker.tracks)} live tracks at the end, "
              f"{len(clips)} clips, {len(used)} crops{' labelled by the teacher' if teacher else ''}, "
              f"{time.time() - t0:.1f} s", flush=True)
    with open(os.path.join(args.out, "clips.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "video", "track", "start_ns", "end_ns", "teacher_top"])
        w.writerows(rows)
    if teacher is not None:
        np.savez(os.path.join(args.out, "frames.npz"), video=np.array(frame_rec["video"]),
                 track=np.array(frame_rec["track"]), pts=np.array(frame_rec["pts"], dtype=np.uint64),
                 probs=np.array(frame_rec["probs"]))
    with open(os.path.join(args.out, "dataset.json"), "w") as f:
        json.dump({"labels": labels, "config": cfg.to_dict(), "crop_margin": args.crop_margin,
                   "frame_step": frame_step, "clip_stride": stride, "videos": args.videos,
                   "teacher": "face-api FaceExpressionNet (@vladmandic/face-api@1.7.15)" if teacher else None},
                  f, indent=1)
    top = {}
    for r in rows:
        top[r[6]] = top.get(r[6], 0) + 1
    print(f"make_dataset: {len(rows)} clips -> {args.out}/clips.csv; "
          f"{'teacher top' if teacher else 'clip'} labels: {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

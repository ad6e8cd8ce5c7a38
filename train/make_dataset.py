#!/usr/bin/python3
"""Face video -> training clips, cut by the adatoskdfer element itself.

  make_dataset.py --out DIR [--config adatosk-tiny | --model M.safetensors] \
      [--teacher FACEAPI_DIR | --label-csv LABELS.csv] VIDEO_OR_FRAME_FOLDER...

Unlabelled face video, teacher labels (what made the default model):
  make_dataset.py --out ds12 --teacher ~/.cache/adatoskdfer/face-api cap12_edit.webm
DFEW-style data (video files or folders of numbered frames 00001.jpg..., one label per video in a
CSV "name,label" with the name of the file or folder and a class name or index):
  make_dataset.py --out dfew --label-csv labels.csv videos/*.avi   (or frames/*/)

Every video runs through the pipeline the element runs at inference:
  filesrc ! decodebin ! videoconvert ! facedetect display=false !
  adatoskdfer roi-mode=roi dump-location=TMP ... ! fakesink
and the clips are the ones the element writes with dump-location: its tracker chose the face box,
its crop code (margin, GstVideoConverter, normalisation) made every frame, exactly the input its
model gets. The element runs a stand-in model with the input geometry of the chosen one (frames,
size, mean/std, frame step; one narrow block, random weights) so that cutting clips for a large
model does not pay for its forward. The element's own options (crop-margin, frame-step,
clip-stride, max-tracks, track-timeout, iou-threshold) are the options here. The dump is read as
the video plays and each float clip is deleted once stored, so a long video needs no more scratch
space than its uint8 clips. The plugin is found on GST_PLUGIN_PATH, else in this checkout's
build/gst-plugin.

Writes DIR/clips/*.npy (uint8 [T][H][W][3]: the element's normalised floats mapped back to the
converter's bytes, which is exact), DIR/clips.csv (path,label,video,track,start_ns,end_ns,
teacher_top; times as the element reports them), DIR/frames.npz (per distinct frame of a track:
video, track, pts, teacher probabilities) and DIR/dataset.json. Labels: with --teacher, the mean
of the teacher's probabilities over the clip's frames (soft label vector), and beside every clip
X.teacher.npz with the teacher's per-frame probabilities [T][C] and 256-wide features [T][256]
(train.py --frame-targets); with --label-csv, that video's label for all its clips.
--max-seconds S uses only each video's first S seconds: a seek with that stop position and a
probe that drops any later frame before facedetect (a validation part of a longer video whose
rest must stay unseen).

--jobs N cuts N videos at a time, each in a process of its own through the same pipeline (and its
own teacher), and writes the one index the sequential cut writes: rows in the order of the videos
given, the same files (a dataset of 16,000 videos is not cut one by one).
"""

import argparse
import concurrent.futures
import csv
import dataclasses
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from adatosk.config import DEFAULT_LABELS, AdatoskConfig, named_config, NAMED_CONFIGS  # noqa: E402


def find_plugin():
    """GStreamer with adatoskdfer: GST_PLUGIN_PATH, else this checkout's build."""
    build = os.path.join(os.path.dirname(HERE), "build", "gst-plugin")
    if not os.environ.get("GST_PLUGIN_PATH") and os.path.isdir(build):
        os.environ["GST_PLUGIN_PATH"] = build
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    for name in ("adatoskdfer", "facedetect"):
        if Gst.ElementFactory.find(name) is None:
            raise SystemExit(f"make_dataset: no GStreamer element '{name}': " + (
                "build the plugin (meson setup build && ninja -C build) or set GST_PLUGIN_PATH"
                if name == "adatoskdfer" else "install gstreamer1.0-opencv (scripts/setup.sh)"))
    return Gst


def stand_in_model(cfg, labels, path):
    """A model with cfg's input geometry and the smallest transformer: the element cuts and
    normalises clips by the model's num_frames, img_size, mean/std and frame_step only."""
    import torch
    from adatosk.model import AdaTosk
    from adatosk.safetensors_io import save_model
    small = dataclasses.replace(cfg, embed_dim=8, depth=1, num_heads=1, mlp_ratio=1.0, atsm_layer=1,
                                decoder_embed_dim=None, decoder_depth=None, decoder_num_heads=None,
                                mask_ratio=None).validate()
    torch.manual_seed(0)
    save_model(path, AdaTosk(small, with_decoder=False), small, list(labels),
               name="make-dataset-stand-in", include_decoder=False)


def frames_source(folder, fps="25/1"):
    """A folder of numbered frames (DFEW style: 00001.jpg, 00002.jpg, ...) as a GStreamer source:
    (launch text, location pattern for the element named "src")."""
    names = sorted(f for f in os.listdir(folder) if re.match(r"^\D*\d+\.(jpe?g|png)$", f, re.I))
    if not names:
        raise SystemExit(f"{folder}: no numbered .jpg/.png frames")
    m = re.match(r"^(\D*)(\d+)\.(\w+)$", names[0])
    prefix, digits, ext = m.group(1), m.group(2), m.group(3)
    width = len(digits) if digits.startswith("0") else 0
    pattern = f"{prefix}%0{width}d.{ext}" if width else f"{prefix}%d.{ext}"
    mime = "image/png" if ext.lower() == "png" else "image/jpeg"
    return (f'multifilesrc name=src start-index={int(digits)} caps="{mime},framerate={fps}" ! decodebin',
            os.path.join(folder, pattern))


class DumpReader:
    """Follows the element's dump while the video runs: every clip the index lists is handed to
    `on_clip(entry, float clip)` and its file removed at once, so the dump never holds more than a
    frame's worth of clips however long the video (a float clip is 4x its bytes)."""

    def __init__(self, dump, on_clip):
        self.dump, self.on_clip = dump, on_clip
        self.index, self.partial = None, b""

    def poll(self):
        if self.index is None:
            path = os.path.join(self.dump, "clips.jsonl")
            if not os.path.exists(path):
                return
            self.index = open(path, "rb")
        lines = (self.partial + self.index.read()).split(b"\n")
        self.partial = lines.pop()             # the element may be mid-line: keep it for later
        for line in lines:
            entry = json.loads(line)
            path = os.path.join(self.dump, entry["file"])
            self.on_clip(entry, np.load(path))
            os.remove(path)

    def close(self):
        if self.index is not None:
            self.index.close()


def element_clips(Gst, video, model, dump, args, on_clip):
    """Runs the video through facedetect ! adatoskdfer dump-location=dump and hands every clip the
    element writes to on_clip(entry, clip): entry is its index line (see gst-plugin/dump.h), clip
    the float32 [3][T][H][W] model input. Returns the number of frames."""
    src, location = frames_source(video) if os.path.isdir(video) else ("filesrc name=src ! decodebin", video)
    desc = (f'{src} ! videoconvert name=conv ! facedetect display=false ! '
            f'adatoskdfer name=dfer roi-mode=roi '
            f'crop-margin={args.crop_margin} frame-step={args.frame_step} '
            f'clip-stride={args.clip_stride} max-tracks={args.max_tracks} '
            f'track-timeout={args.track_timeout} iou-threshold={args.iou_threshold} '
            f'inference-mode=sync post-messages=false backend=cpu threads=1 ! '
            f'fakesink name=sink sync=false signal-handoffs=true')
    pipe = Gst.parse_launch(desc)
    # Paths as properties, not launch text: any file name works.
    pipe.get_by_name("src").set_property("location", location)
    dfer = pipe.get_by_name("dfer")
    dfer.set_property("model", model)
    dfer.set_property("dump-location", dump)
    reader = DumpReader(dump, on_clip)
    frames, failed = [0], []

    def on_frame(*_):
        # Sync mode: a clip a frame completes is written before the frame leaves the element.
        frames[0] += 1
        if not failed:
            try:
                reader.poll()
            except Exception as e:            # raised in GStreamer's thread: report it below
                failed.append(e)

    pipe.get_by_name("sink").connect("handoff", on_frame)
    if args.max_seconds:
        limit_to(Gst, pipe, args.max_seconds)
    pipe.set_state(Gst.State.PLAYING)
    try:
        msg = pipe.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE,
                                                Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            raise SystemExit(f"make_dataset: {video}: {err.message} ({dbg})")
    finally:
        pipe.set_state(Gst.State.NULL)
    if failed:
        raise SystemExit(f"make_dataset: {video}: storing a clip failed: {failed[0]}")
    reader.poll()
    reader.close()
    return frames[0]


def frame_targets_path(clip_path):
    """clips/X.npy -> clips/X.teacher.npz: the teacher's per-frame probabilities [T][C] and
    penultimate features [T][256] of that clip's frames."""
    return clip_path[:-len(".npy")] + ".teacher.npz"


def limit_to(Gst, pipe, seconds):
    """Only the video's first `seconds` reach the element, and nothing after them is decoded on
    purpose: a seek with that stop position, and a probe that drops any frame at or past it (a
    decoder may hand out one more) before facedetect sees it."""
    limit = int(round(seconds * Gst.SECOND))

    def drop_late(_pad, info):
        buf = info.get_buffer()
        if buf.pts != Gst.CLOCK_TIME_NONE and buf.pts >= limit:
            return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK

    pipe.get_by_name("conv").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, drop_late)
    pipe.set_state(Gst.State.PAUSED)
    if pipe.get_state(Gst.CLOCK_TIME_NONE)[0] == Gst.StateChangeReturn.FAILURE:
        raise SystemExit("make_dataset: the pipeline does not start")
    if not pipe.seek(1.0, Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.ACCURATE,
                     Gst.SeekType.SET, 0, Gst.SeekType.SET, limit):
        raise SystemExit("make_dataset: --max-seconds needs a seekable source (a video file)")


def to_bytes(x, cfg):
    """The element's normalised [3][T][H][W] floats -> the converter's RGB bytes [T][H][W][3]."""
    mean = np.asarray(cfg.mean, np.float64)[:, None, None, None]
    std = np.asarray(cfg.std, np.float64)[:, None, None, None]
    u = np.rint((x.astype(np.float64) * std + mean) * 255.0)
    return np.clip(u, 0, 255).astype(np.uint8).transpose(1, 2, 3, 0)


def load_teacher(teacher_dir, threads, labels):
    if not teacher_dir:
        return None
    import torch
    torch.set_num_threads(threads)
    from teacher.faceapi import FaceApiTeacher, LABELS as TLABELS
    if list(TLABELS) != list(labels):
        raise SystemExit(f"teacher labels {TLABELS} differ from the model's {labels}")
    return FaceApiTeacher(teacher_dir)


def cut_video(Gst, video, model, dump, args, cfg, labels, hard, teacher):
    """One video through the element: its clips written under args.out/clips, and -> (its rows of
    clips.csv, its part of frames.npz as lists)."""
    video = video.rstrip("/") or video
    t0 = time.time()
    vname = os.path.splitext(os.path.basename(video))[0]
    clips, crops = [], {}       # crops: (track, pts) -> uint8 frame, one per distinct frame
    rows, frame_rec = [], {"video": [], "track": [], "pts": [], "probs": []}

    def keep_clip(entry, x):
        i = len(clips)
        arr = to_bytes(x, cfg)
        keys = [(entry["track"], p) if p >= 0 else (entry["track"], -1 - i * len(arr) - t)
                for t, p in enumerate(entry["pts"])]
        for k, frame in zip(keys, arr):
            crops.setdefault(k, frame)
        rel = os.path.join("clips", f"{vname}_t{entry['track']}_{i:04d}.npy")
        np.save(os.path.join(args.out, rel), arr)
        clips.append((entry, keys, rel))

    n_frames = element_clips(Gst, video, model, dump, args, keep_clip)
    shutil.rmtree(dump)
    used = sorted(crops)
    probs, feats = {}, {}
    if teacher is not None and used:
        p, f = teacher.probs_and_features([crops[k] for k in used])
        probs, feats = dict(zip(used, p)), dict(zip(used, f))
        for k in used:
            frame_rec["video"].append(vname)
            frame_rec["track"].append(k[0])
            frame_rec["pts"].append(max(k[1], 0))
            frame_rec["probs"].append(probs[k])
    for entry, keys, rel in clips:
        if teacher is not None:
            # The teacher's view of every frame, for per-frame (dense) targets in training.
            np.savez(os.path.join(args.out, frame_targets_path(rel)),
                     probs=np.array([probs[k] for k in keys], np.float32),
                     features=np.array([feats[k] for k in keys], np.float16))
            soft = np.mean([probs[k] for k in keys], axis=0)
            label = " ".join(f"{v:.6f}" for v in soft)
            top = labels[int(np.argmax(soft))]
        else:
            h = hard[os.path.basename(video)]
            label, top = str(h), labels[h]
        rows.append([rel, label, vname, entry["track"], entry["start"], entry["end"], top])
    print(f"make_dataset: {video}: {n_frames} frames, {len(clips)} clips, "
          f"{len({e['track'] for e, _, _ in clips})} tracks, {len(used)} distinct crops"
          f"{' labelled by the teacher' if teacher else ''}, {time.time() - t0:.1f} s", flush=True)
    return rows, frame_rec


_worker = {}


def _start_worker(teacher_dir, threads, labels):
    """A --jobs process: its own GStreamer and teacher, made once for all the videos it cuts."""
    _worker["Gst"] = find_plugin()
    _worker["teacher"] = load_teacher(teacher_dir, threads, labels)


def _cut_in_worker(job):
    video, model, dump, args, cfg, labels, hard = job
    return cut_video(_worker["Gst"], video, model, dump, args, cfg, labels, hard, _worker["teacher"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="adatosk-tiny", choices=sorted(NAMED_CONFIGS))
    ap.add_argument("--model", help="cut clips for this model file's input instead of --config's")
    ap.add_argument("--crop-margin", type=float, default=0.25)
    ap.add_argument("--frame-step", type=int, default=0, help="0: the model's")
    ap.add_argument("--clip-stride", type=int, default=0, help="0: half the clip length")
    ap.add_argument("--max-tracks", type=int, default=4)
    ap.add_argument("--track-timeout", type=int, default=10)
    ap.add_argument("--iou-threshold", type=float, default=0.3)
    ap.add_argument("--teacher", help="face-api model dir (train/teacher/fetch_faceapi.sh DIR)")
    ap.add_argument("--label-csv", help="CSV: video file name,label (class name or index)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the teacher")
    ap.add_argument("--jobs", type=int, default=1,
                    help="videos cut at the same time, each in its own process (one index all the same)")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="use only the first S seconds of each video (frames after them are never "
                         "given to the element; a validation part of a longer video)")
    args = ap.parse_args()
    if bool(args.teacher) == bool(args.label_csv):
        ap.error("give exactly one of --teacher and --label-csv")

    if args.model:
        from adatosk.safetensors_io import read_safetensors
        try:
            _, _, meta = read_safetensors(args.model)
            cfg = AdatoskConfig.from_dict(json.loads(meta["adatosk.config"]))
            labels = json.loads(meta.get("adatosk.labels", "null")) or DEFAULT_LABELS[:cfg.num_classes]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SystemExit(f"make_dataset: {args.model} is not an AdaTosk model file: {e}")
    else:
        cfg = named_config(args.config)
        labels = DEFAULT_LABELS[:cfg.num_classes]
    frame_step = args.frame_step or max(cfg.frame_step or 1, 1)
    stride = args.clip_stride or max(cfg.num_frames // 2, 1)

    hard = {}
    if args.label_csv:
        with open(args.label_csv) as f:
            for row in csv.reader(f):
                if not row or row[0].startswith("#"):
                    continue
                if len(row) < 2:
                    raise SystemExit(f"{args.label_csv}: a row needs name,label: {row}")
                name, lab = row[0].strip().rstrip("/"), row[1].strip()
                if lab.isdigit() and int(lab) < len(labels):
                    hard[os.path.basename(name)] = int(lab)
                elif lab in labels:
                    hard[os.path.basename(name)] = labels.index(lab)
                else:
                    raise SystemExit(f"{args.label_csv}: label '{lab}' is not one of {labels} "
                                     f"or an index below {len(labels)}")
        for video in args.videos:
            if os.path.basename(video.rstrip("/")) not in hard:
                raise SystemExit(f"{video} is not in {args.label_csv}")
    teacher = load_teacher(args.teacher, args.threads, labels)
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")

    Gst = find_plugin()
    os.makedirs(os.path.join(args.out, "clips"), exist_ok=True)
    work = tempfile.mkdtemp(prefix=".make-dataset-", dir=args.out)
    model = os.path.join(work, "stand-in.safetensors")
    stand_in_model(cfg, labels, model)
    args.frame_step, args.clip_stride = frame_step, stride
    rows, frame_rec = [], {"video": [], "track": [], "pts": [], "probs": []}
    jobs = [(video, os.path.join(work, f"dump{k}")) for k, video in enumerate(args.videos)]
    try:
        if args.jobs == 1:
            done = [cut_video(Gst, video, model, dump, args, cfg, labels, hard, teacher) for video, dump in jobs]
        else:
            # spawn, not fork: a forked child would inherit GStreamer's and torch's threads mid-state.
            with concurrent.futures.ProcessPoolExecutor(
                    args.jobs, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker, initargs=(args.teacher, args.threads, labels)) as pool:
                done = list(pool.map(_cut_in_worker, [(video, model, dump, args, cfg, labels, hard)
                                                      for video, dump in jobs]))
        for video_rows, video_frames in done:       # in the order of the videos given
            rows += video_rows
            for k in frame_rec:
                frame_rec[k] += video_frames[k]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    with open(os.path.join(args.out, "clips.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "video", "track", "start_ns", "end_ns", "teacher_top"])
        w.writerows(rows)
    if args.teacher:
        np.savez(os.path.join(args.out, "frames.npz"), video=np.array(frame_rec["video"]),
                 track=np.array(frame_rec["track"]), pts=np.array(frame_rec["pts"], dtype=np.uint64),
                 probs=np.array(frame_rec["probs"]))
    with open(os.path.join(args.out, "dataset.json"), "w") as f:
        json.dump({"labels": list(labels), "config": cfg.to_dict(), "crop_margin": args.crop_margin,
                   "frame_step": frame_step, "clip_stride": stride, "videos": args.videos,
                   "cut_by": "adatoskdfer dump-location (roi-mode=roi) after facedetect",
                   "teacher": "face-api FaceExpressionNet (@vladmandic/face-api@1.7.15)" if args.teacher else None},
                  f, indent=1)
    top = {}
    for r in rows:
        top[r[6]] = top.get(r[6], 0) + 1
    print(f"make_dataset: {len(rows)} clips -> {args.out}/clips.csv; "
          f"{'teacher top' if args.teacher else 'clip'} labels: {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

/* adatoskdfer: dynamic facial expression recognition with AdaTosk.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SECTION:element-adatoskdfer
 * @title: adatoskdfer
 *
 * Recognises dynamic facial expressions in video with the AdaTosk video
 * transformer. The video passes through unchanged (in place); only metadata
 * is added.
 *
 * Faces come from upstream GstVideoRegionOfInterestMeta of type #roi-type
 * ("face", e.g. from facedetect) or the whole frame is one face
 * (#roi-mode: in auto mode the whole frame is used until the first face ROI
 * of a stream arrives, ROIs only from then on until the next stream). Faces are tracked across frames by IoU
 * (upstream ids are all 0); a face missed by the detector keeps its last box
 * for up to #track-timeout frames. Every #frame-step-th frame of a track is
 * cropped (the box plus #crop-margin, by default the margin the model was
 * trained with, grown to the model's aspect ratio),
 * converted and scaled by GstVideoConverter, normalised and added to the
 * track's ring; once the ring holds the model's clip and #clip-stride new
 * frames came, the clip is classified.
 *
 * Each result travels downstream on the track's frames until its next one:
 * an "expression" param on the face's ROI meta (label, label_id, confidence,
 * model_name, track-id, clip-start, clip-end), an AdatoskDferMeta custom meta
 * with the probabilities, labels and frame significance (read it with
 * adatoskmeta.h), and with #post-messages an element message "adatoskdfer".
 *
 * #inference-mode=sync runs the model in the streaming thread (deterministic;
 * the LATENCY query reports one forward); async runs it on a worker thread
 * and attaches results when ready (no latency added). In async mode a live
 * source never waits: when the worker falls behind the oldest waiting clip is
 * dropped (#clips-dropped); other sources wait, so no clip is lost.
 *
 * Clips that fall due together (several faces on one frame) run as one
 * batched forward of up to #batch-size clips, which costs far less than one
 * forward each on a small model and gives the same results; in async mode
 * the worker batches the clips that wait. Elements of one process with the
 * same #model-instance-id share one loaded model, one backend and one queue
 * (engine.c): their clips batch together, and eight of them take the memory
 * of one. They must agree on model, backend, threads, keep-ratio and
 * batch-size; an element that does not fails to start, naming what differs.
 * #forwards counts the forwards of the model an element uses.
 *
 * #model set while playing loads the new model beside the running one (on a
 * thread of its own) and switches between two frames; a file that cannot be
 * used leaves the old model running and posts a warning.
 *
 * Upstream ROI metas are untrusted: at most #max-faces faces are taken per
 * frame (the largest by their area inside the frame; a warning is posted
 * the first time a frame has more), boxes are clamped to a few frame sizes,
 * and ROIs of other types, empty or starting outside the frame are skipped.
 *
 * Wherever the frame history breaks, the tracks and their half-filled clips
 * are dropped, so that a clip never mixes frames from two places: FLUSH
 * (which also drops pending clips), a new SEGMENT (a non-flushing seek), a
 * new stream (STREAM_START, e.g. gapless playback), a GAP, and new caps. Clips
 * that were already taken are still classified and posted. EOS waits for
 * pending clips (and with #classify-partial classifies faces that had at
 * least half a clip; those results are posted as messages only).
 *
 * QoS: in sync mode, when downstream reports (with a QoS event) that frames
 * arrive late, a clip that becomes due on a frame already too late is
 * dropped instead of classified (counted in #clips-dropped, with a QoS
 * message whose processed/dropped counts are clips), so the stream catches
 * up; the frames themselves still pass and still enter the clips.
 *
 * With #dump-location every clip taken for classification is also written
 * to that directory exactly as the model gets it (NumPy float32
 * [3][T][H][W], normalised) with an index clips.jsonl: training data cut by
 * the element's own tracker and crop code (train/make_dataset.py uses it).
 *
 * With #results-location every classified clip is also written to that file
 * as one line of JSON (JSON lines, flushed per line; field names close to DL
 * Streamer's gvametaconvert; results_jsonl.c documents them).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m filesrc location=talk.webm ! decodebin ! videoconvert ! \
 *     facedetect display=false ! adatoskdfer model=model.safetensors ! fakesink
 * ]|
 */

#include "gstadatoskdfer.h"
#include "gstadatoskdfer-private.h"

#include "results.h"

#define GST_CAT_DEFAULT gst_adatosk_dfer_debug

#define DEFAULT_KEEP_RATIO 0.0
#define DEFAULT_FRAME_STEP 0
#define DEFAULT_CLIP_STRIDE 0
#define DEFAULT_CROP_MARGIN -1.0
#define DEFAULT_ROI_MODE GST_ADATOSK_DFER_ROI_MODE_AUTO
/* DEFAULT_ROI_TYPE is in gstadatoskdfer-private.h: run_setup.c uses it too. */
#define DEFAULT_MAX_FACES 16
#define DEFAULT_MAX_TRACKS 4
#define DEFAULT_TRACK_TIMEOUT 10
#define DEFAULT_IOU_THRESHOLD 0.3
#define DEFAULT_INFERENCE_MODE GST_ADATOSK_DFER_INFERENCE_SYNC
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_BATCH_SIZE 8
#define DEFAULT_CLASSIFY_PARTIAL FALSE
#define DEFAULT_BACKEND GST_ADATOSK_DFER_BACKEND_AUTO
#define DEFAULT_THREADS 0

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_LABELS,
  PROP_KEEP_RATIO,
  PROP_FRAME_STEP,
  PROP_CLIP_STRIDE,
  PROP_CROP_MARGIN,
  PROP_ROI_MODE,
  PROP_ROI_TYPE,
  PROP_MAX_FACES,
  PROP_MAX_TRACKS,
  PROP_TRACK_TIMEOUT,
  PROP_IOU_THRESHOLD,
  PROP_INFERENCE_MODE,
  PROP_POST_MESSAGES,
  PROP_CLASSIFY_PARTIAL,
  PROP_BACKEND,
  PROP_THREADS,
  PROP_DUMP_LOCATION,
  PROP_RESULTS_LOCATION,
  PROP_BATCH_SIZE,
  PROP_MODEL_INSTANCE_ID,
  PROP_FORWARDS,
  PROP_DEVICE,
  PROP_CLIPS_CLASSIFIED,
  PROP_CLIPS_DROPPED,
};

#define VIDEO_CAPS GST_VIDEO_CAPS_MAKE (GST_VIDEO_FORMATS_ALL)

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));

#define GST_TYPE_ADATOSK_DFER_ROI_MODE (gst_adatosk_dfer_roi_mode_get_type ())
static GType
gst_adatosk_dfer_roi_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] =
      {{GST_ADATOSK_DFER_ROI_MODE_AUTO,
           "Face ROIs from upstream once any arrived, the whole frame before",
           "auto"},
          {GST_ADATOSK_DFER_ROI_MODE_ROI, "Only face ROIs from upstream",
              "roi"},
          {GST_ADATOSK_DFER_ROI_MODE_FULL_FRAME, "The whole frame is one face",
              "full-frame"},
          {0, NULL, NULL}};

  if (g_once_init_enter (&type))
    g_once_init_leave (&type,
        g_enum_register_static ("GstAdatoskDferRoiMode", values));
  return type;
}

#define GST_TYPE_ADATOSK_DFER_INFERENCE_MODE \
  (gst_adatosk_dfer_inference_mode_get_type ())
static GType
gst_adatosk_dfer_inference_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_ADATOSK_DFER_INFERENCE_SYNC,
          "In the streaming thread: deterministic, stalls while a clip runs",
          "sync"},
      {GST_ADATOSK_DFER_INFERENCE_ASYNC,
          "On a worker thread: no stall (live sources), results attach when "
          "ready",
          "async"},
      {0, NULL, NULL}};

  if (g_once_init_enter (&type))
    g_once_init_leave (&type,
        g_enum_register_static ("GstAdatoskDferInferenceMode", values));
  return type;
}

#define GST_TYPE_ADATOSK_DFER_BACKEND (gst_adatosk_dfer_backend_get_type ())
static GType
gst_adatosk_dfer_backend_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] =
      {{GST_ADATOSK_DFER_BACKEND_AUTO,
           "A GPU through Vulkan when present, else "
           "the CPU",
           "auto"},
          {GST_ADATOSK_DFER_BACKEND_CPU, "The CPU (OpenBLAS)", "cpu"},
          {GST_ADATOSK_DFER_BACKEND_VULKAN, "Vulkan compute", "vulkan"},
          {0, NULL, NULL}};

  if (g_once_init_enter (&type))
    g_once_init_leave (&type,
        g_enum_register_static ("GstAdatoskDferBackend", values));
  return type;
}

#define gst_adatosk_dfer_parent_class parent_class
G_DEFINE_TYPE (GstAdatoskDfer, gst_adatosk_dfer, GST_TYPE_BASE_TRANSFORM);
/* The debug categories come with the element, so that every program that
 * registers it (plugin or static build) has them. */
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (adatoskdfer, "adatoskdfer",
    GST_RANK_NONE, GST_TYPE_ADATOSK_DFER, adatosk_dfer_debug_init ());

static void gst_adatosk_dfer_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec);
static void gst_adatosk_dfer_get_property (GObject *object, guint prop_id,
    GValue *value, GParamSpec *pspec);
static void gst_adatosk_dfer_finalize (GObject *object);
static gboolean gst_adatosk_dfer_start (GstBaseTransform *trans);
static gboolean gst_adatosk_dfer_stop (GstBaseTransform *trans);
static gboolean gst_adatosk_dfer_set_caps (GstBaseTransform *trans,
    GstCaps *incaps, GstCaps *outcaps);
static gboolean gst_adatosk_dfer_sink_event (GstBaseTransform *trans,
    GstEvent *event);
static gboolean gst_adatosk_dfer_src_event (GstBaseTransform *trans,
    GstEvent *event);
static gboolean gst_adatosk_dfer_query (GstBaseTransform *trans,
    GstPadDirection direction, GstQuery *query);
static GstFlowReturn gst_adatosk_dfer_transform_ip (GstBaseTransform *trans,
    GstBuffer *buf);

static void
gst_adatosk_dfer_class_init (GstAdatoskDferClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  const GParamFlags rw =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  gobject_class->set_property = gst_adatosk_dfer_set_property;
  gobject_class->get_property = gst_adatosk_dfer_get_property;
  gobject_class->finalize = gst_adatosk_dfer_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Path of the AdaTosk model file (.safetensors); unset: the model "
          "built into the plugin (models/" ADATOSK_DFER_DEFAULT_MODEL_FILE
          ", when the build had it). Set while playing, the new model loads "
          "beside the running one and takes over between two frames (the "
          "clips after it carry its name); a file that cannot be used leaves "
          "the old model running and posts a warning naming the problem",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_LABELS,
      g_param_spec_string ("labels", "Labels",
          "Comma-separated class names replacing the model's, one per class "
          "(unset: the model's)",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_KEEP_RATIO,
      g_param_spec_double ("keep-ratio", "Keep ratio",
          "Fraction of tokens the model keeps after its temporal soft mask "
          "(fewer is faster); 0: the model's",
          0.0, 1.0, DEFAULT_KEEP_RATIO, rw));
  g_object_class_install_property (gobject_class, PROP_FRAME_STEP,
      g_param_spec_uint ("frame-step", "Frame step",
          "Every frame-step-th frame of a face enters its clip; 0: the "
          "model's (its training sampling)",
          0, 1000, DEFAULT_FRAME_STEP, rw));
  g_object_class_install_property (gobject_class, PROP_CLIP_STRIDE,
      g_param_spec_uint ("clip-stride", "Clip stride",
          "Sampled frames between two classifications of a face; 0: half the "
          "model's clip length",
          0, 10000, DEFAULT_CLIP_STRIDE, rw));
  g_object_class_install_property (gobject_class, PROP_CROP_MARGIN,
      g_param_spec_double ("crop-margin", "Crop margin",
          "Margin added on every side of a face box before cropping, as a "
          "fraction of the box size; -1: the model's (the margin it was "
          "trained with, 0.25 when its file does not say)",
          -1.0, 2.0, DEFAULT_CROP_MARGIN, rw));
  g_object_class_install_property (gobject_class, PROP_ROI_MODE,
      g_param_spec_enum ("roi-mode", "ROI mode",
          "Where the faces come from: upstream face ROIs, the whole frame, or "
          "auto: the whole frame until a stream's first face ROI, then ROIs",
          GST_TYPE_ADATOSK_DFER_ROI_MODE, DEFAULT_ROI_MODE, rw));
  g_object_class_install_property (gobject_class, PROP_ROI_TYPE,
      g_param_spec_string ("roi-type", "ROI type",
          "Type of the upstream region-of-interest metas that are faces (and "
          "of the ROI added in full-frame mode)",
          DEFAULT_ROI_TYPE, rw));
  g_object_class_install_property (gobject_class, PROP_MAX_FACES,
      g_param_spec_uint ("max-faces", "Max faces",
          "Upstream face ROIs taken per frame, the largest first (by their "
          "area inside the frame); a frame with more posts a warning once. "
          "Bounds the work a buffer with absurdly many ROI metas can cause",
          1, 1024, DEFAULT_MAX_FACES, rw));
  g_object_class_install_property (gobject_class, PROP_MAX_TRACKS,
      g_param_spec_uint ("max-tracks", "Max tracks",
          "Faces tracked at once; further faces are ignored until a track "
          "ends",
          1, 64, DEFAULT_MAX_TRACKS, rw));
  g_object_class_install_property (gobject_class, PROP_TRACK_TIMEOUT,
      g_param_spec_uint ("track-timeout", "Track timeout",
          "Frames a face may go undetected before its track is dropped "
          "(meanwhile its last box is used)",
          1, 100000, DEFAULT_TRACK_TIMEOUT, rw));
  g_object_class_install_property (gobject_class, PROP_IOU_THRESHOLD,
      g_param_spec_double ("iou-threshold", "IoU threshold",
          "Least intersection over union of a face box with a track's last "
          "box for the box to continue the track",
          0.01, 1.0, DEFAULT_IOU_THRESHOLD, rw));
  g_object_class_install_property (gobject_class, PROP_INFERENCE_MODE,
      g_param_spec_enum ("inference-mode", "Inference mode",
          "Where clips are classified: in the streaming thread or on a "
          "worker thread",
          GST_TYPE_ADATOSK_DFER_INFERENCE_MODE, DEFAULT_INFERENCE_MODE, rw));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post an element message named \"adatoskdfer\" for every "
          "classified clip",
          DEFAULT_POST_MESSAGES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
              | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_CLASSIFY_PARTIAL,
      g_param_spec_boolean ("classify-partial", "Classify partial clips",
          "At end of stream, classify faces that have at least half a clip "
          "but were never classified, repeating their last frame (the "
          "result is posted as a message only: no buffer follows)",
          DEFAULT_CLASSIFY_PARTIAL, rw));
  g_object_class_install_property (gobject_class, PROP_BACKEND,
      g_param_spec_enum ("backend", "Backend",
          "Where the model runs (the choice is readable in 'device')",
          GST_TYPE_ADATOSK_DFER_BACKEND, DEFAULT_BACKEND, rw));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_uint ("threads", "Threads",
          "CPU threads of the model's forward; 0: all cores", 0, 1024,
          DEFAULT_THREADS, rw));
  g_object_class_install_property (gobject_class, PROP_DUMP_LOCATION,
      g_param_spec_string ("dump-location", "Dump location",
          "Directory to write every clip taken for classification into, "
          "exactly as the model gets it (clip-N.npy: float32 [3][T][H][W], "
          "normalised), with an index clips.jsonl (track, times, box): "
          "training data cut by the element itself (train/make_dataset.py). "
          "Unset: nothing is written",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_RESULTS_LOCATION,
      g_param_spec_string ("results-location", "Results location",
          "File to write every classified clip into as one line of JSON "
          "(JSON lines, flushed per line, so it can be followed while the "
          "pipeline runs): timestamp and timestamp_end (stream time, ns), "
          "id (track), x, y, w, h, label, label_id, confidence, model.name, "
          "labels, probabilities, significance, kept_fraction, pts_start, "
          "pts_end; names as DL Streamer's gvametaconvert where they overlap. "
          "Created (truncated) at start. Unset: nothing is written",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint ("batch-size", "Batch size",
          "The most clips per forward: clips that fall due together (several "
          "faces on one frame, or, with a model-instance-id, several elements) "
          "run as one batched forward, which costs less than one forward "
          "each; a clip never waits for others to arrive. Results equal the "
          "unbatched ones",
          1, 64, DEFAULT_BATCH_SIZE, rw));
  g_object_class_install_property (gobject_class, PROP_MODEL_INSTANCE_ID,
      g_param_spec_string ("model-instance-id", "Model instance id",
          "Elements of one process with the same id share one loaded model, "
          "one backend and one inference queue, and their clips batch "
          "together (as DL Streamer's model-instance-id). They must have the "
          "same model, backend, threads, keep-ratio and batch-size (else "
          "the element fails to start, naming what differs). Unset: a model "
          "of its own",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_FORWARDS,
      g_param_spec_uint64 ("forwards", "Forwards",
          "Forwards run since the element started by the model it uses (a "
          "batch counts once; with a model-instance-id, the forwards of all "
          "elements sharing it, counted since the model was loaded)",
          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "The backend and device the model runs on (known once started)", NULL,
          ro));
  g_object_class_install_property (gobject_class, PROP_CLIPS_CLASSIFIED,
      g_param_spec_uint64 ("clips-classified", "Clips classified",
          "Clips classified since the element started", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_CLIPS_DROPPED,
      g_param_spec_uint64 ("clips-dropped", "Clips dropped",
          "Clips dropped unclassified: the async worker fell behind, or "
          "(sync mode) the clip was due on a frame QoS said was too late",
          0, G_MAXUINT64, 0, ro));

  gst_element_class_set_static_metadata (element_class,
      "AdaTosk dynamic facial expression recognition", "Filter/Analyzer/Video",
      "Classifies the expressions of tracked faces over clips of frames "
      "with the AdaTosk video transformer and attaches the results as "
      "metadata",
      "The adatoskdfer authors");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_adatosk_dfer_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_adatosk_dfer_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_adatosk_dfer_set_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_adatosk_dfer_sink_event);
  trans_class->src_event = GST_DEBUG_FUNCPTR (gst_adatosk_dfer_src_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_adatosk_dfer_query);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_adatosk_dfer_transform_ip);
  /* Buffers pass unchanged: never copy them for an identical caps pair. */
  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_ip_on_passthrough = FALSE;

  gst_type_mark_as_plugin_api (GST_TYPE_ADATOSK_DFER_ROI_MODE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_ADATOSK_DFER_INFERENCE_MODE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_ADATOSK_DFER_BACKEND, 0);
  adatosk_dfer_meta_register ();
}

static void
gst_adatosk_dfer_init (GstAdatoskDfer *self)
{
  GstAdatoskDferSettings *s = &self->settings;

  s->model = NULL;
  s->labels = NULL;
  s->keep_ratio = DEFAULT_KEEP_RATIO;
  s->frame_step = DEFAULT_FRAME_STEP;
  s->clip_stride = DEFAULT_CLIP_STRIDE;
  s->crop_margin = DEFAULT_CROP_MARGIN;
  s->roi_mode = DEFAULT_ROI_MODE;
  s->roi_type = g_strdup (DEFAULT_ROI_TYPE);
  s->max_faces = DEFAULT_MAX_FACES;
  s->max_tracks = DEFAULT_MAX_TRACKS;
  s->track_timeout = DEFAULT_TRACK_TIMEOUT;
  s->iou_threshold = DEFAULT_IOU_THRESHOLD;
  s->inference_mode = DEFAULT_INFERENCE_MODE;
  s->post_messages = DEFAULT_POST_MESSAGES;
  s->classify_partial = DEFAULT_CLASSIFY_PARTIAL;
  s->backend = DEFAULT_BACKEND;
  s->threads = DEFAULT_THREADS;
  s->batch_size = DEFAULT_BATCH_SIZE;
  s->model_instance_id = NULL;
  self->latency = 0;
  self->earliest_time = GST_CLOCK_TIME_NONE;
  self->proportion = 1.0;

  /* Only metadata is added: in place, and base transform makes the buffer
   * (not its memory) writable when it is shared. */
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), FALSE);
}

static void
gst_adatosk_dfer_finalize (GObject *object)
{
  GstAdatoskDfer *self = GST_ADATOSK_DFER (object);

  gst_adatosk_dfer_settings_clear (&self->settings);
  gst_adatosk_dfer_settings_clear (&self->run);
  g_free (self->device);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_adatosk_dfer_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstAdatoskDfer *self = GST_ADATOSK_DFER (object);
  GstAdatoskDferSettings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (s->model);
      s->model = g_value_dup_string (value);
      break;
    case PROP_LABELS:
      g_free (s->labels);
      s->labels = g_value_dup_string (value);
      break;
    case PROP_KEEP_RATIO:
      s->keep_ratio = g_value_get_double (value);
      break;
    case PROP_FRAME_STEP:
      s->frame_step = g_value_get_uint (value);
      break;
    case PROP_CLIP_STRIDE:
      s->clip_stride = g_value_get_uint (value);
      break;
    case PROP_CROP_MARGIN:
      s->crop_margin = g_value_get_double (value);
      break;
    case PROP_ROI_MODE:
      s->roi_mode = g_value_get_enum (value);
      break;
    case PROP_ROI_TYPE:
      g_free (s->roi_type);
      s->roi_type = g_value_dup_string (value);
      break;
    case PROP_MAX_FACES:
      s->max_faces = g_value_get_uint (value);
      break;
    case PROP_MAX_TRACKS:
      s->max_tracks = g_value_get_uint (value);
      break;
    case PROP_TRACK_TIMEOUT:
      s->track_timeout = g_value_get_uint (value);
      break;
    case PROP_IOU_THRESHOLD:
      s->iou_threshold = g_value_get_double (value);
      break;
    case PROP_INFERENCE_MODE:
      s->inference_mode = g_value_get_enum (value);
      break;
    case PROP_POST_MESSAGES:
      s->post_messages = g_value_get_boolean (value);
      break;
    case PROP_CLASSIFY_PARTIAL:
      s->classify_partial = g_value_get_boolean (value);
      break;
    case PROP_BACKEND:
      s->backend = g_value_get_enum (value);
      break;
    case PROP_THREADS:
      s->threads = g_value_get_uint (value);
      break;
    case PROP_DUMP_LOCATION:
      g_free (s->dump_location);
      s->dump_location = g_value_dup_string (value);
      break;
    case PROP_RESULTS_LOCATION:
      g_free (s->results_location);
      s->results_location = g_value_dup_string (value);
      break;
    case PROP_BATCH_SIZE:
      s->batch_size = g_value_get_uint (value);
      break;
    case PROP_MODEL_INSTANCE_ID:
      g_free (s->model_instance_id);
      s->model_instance_id = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  /* 'model' switches models while running (swap_model()). */
  if (self->running && prop_id == PROP_MODEL)
    self->swap_wanted = TRUE;
  else if (self->running && prop_id != PROP_POST_MESSAGES)
    GST_WARNING_OBJECT (self,
        "'%s' changed while running: it applies from "
        "the next start",
        pspec->name);
  GST_OBJECT_UNLOCK (self);
}

static void
gst_adatosk_dfer_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstAdatoskDfer *self = GST_ADATOSK_DFER (object);
  GstAdatoskDferSettings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, s->model);
      break;
    case PROP_LABELS:
      g_value_set_string (value, s->labels);
      break;
    case PROP_KEEP_RATIO:
      g_value_set_double (value, s->keep_ratio);
      break;
    case PROP_FRAME_STEP:
      g_value_set_uint (value, s->frame_step);
      break;
    case PROP_CLIP_STRIDE:
      g_value_set_uint (value, s->clip_stride);
      break;
    case PROP_CROP_MARGIN:
      g_value_set_double (value, s->crop_margin);
      break;
    case PROP_ROI_MODE:
      g_value_set_enum (value, s->roi_mode);
      break;
    case PROP_ROI_TYPE:
      g_value_set_string (value, s->roi_type);
      break;
    case PROP_MAX_FACES:
      g_value_set_uint (value, s->max_faces);
      break;
    case PROP_MAX_TRACKS:
      g_value_set_uint (value, s->max_tracks);
      break;
    case PROP_TRACK_TIMEOUT:
      g_value_set_uint (value, s->track_timeout);
      break;
    case PROP_IOU_THRESHOLD:
      g_value_set_double (value, s->iou_threshold);
      break;
    case PROP_INFERENCE_MODE:
      g_value_set_enum (value, s->inference_mode);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, s->post_messages);
      break;
    case PROP_CLASSIFY_PARTIAL:
      g_value_set_boolean (value, s->classify_partial);
      break;
    case PROP_BACKEND:
      g_value_set_enum (value, s->backend);
      break;
    case PROP_THREADS:
      g_value_set_uint (value, s->threads);
      break;
    case PROP_DUMP_LOCATION:
      g_value_set_string (value, s->dump_location);
      break;
    case PROP_RESULTS_LOCATION:
      g_value_set_string (value, s->results_location);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_uint (value, s->batch_size);
      break;
    case PROP_MODEL_INSTANCE_ID:
      g_value_set_string (value, s->model_instance_id);
      break;
    case PROP_FORWARDS:
      g_value_set_uint64 (value,
          self->engine ? adatosk_engine_get_forwards (self->engine) : 0);
      break;
    case PROP_DEVICE:
      g_value_set_string (value, self->device);
      break;
    case PROP_CLIPS_CLASSIFIED:
      g_value_set_uint64 (value, self->clips_classified);
      break;
    case PROP_CLIPS_DROPPED:
      g_value_set_uint64 (value, self->clips_dropped);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ------------------------------------------------------------------------ */
/* start / stop */

static gboolean
gst_adatosk_dfer_start (GstBaseTransform *trans)
{
  GstAdatoskDfer *self = GST_ADATOSK_DFER (trans);
  const gchar *path;

  GST_OBJECT_LOCK (self);
  gst_adatosk_dfer_settings_copy (&self->run, &self->settings);
  self->clips_classified = 0;
  self->clips_dropped = 0;
  self->earliest_time = GST_CLOCK_TIME_NONE;
  self->proportion = 1.0;
  self->running = TRUE;
  GST_OBJECT_UNLOCK (self);

  if (!gst_adatosk_dfer_check_settings (self, &path)
      || !gst_adatosk_dfer_load_model (self, path))
    goto failed;
  gst_adatosk_dfer_make_streaming_state (self);
  if (!gst_adatosk_dfer_warm_up (self) || !gst_adatosk_dfer_open_dump (self)
      || !gst_adatosk_dfer_open_results (self)
      || !gst_adatosk_dfer_start_worker (self))
    goto failed;
  GST_INFO_OBJECT (self,
      "clips of %d frames, frame-step %u, clip-stride %u, "
      "%s inference, at most %u faces per frame and %u tracks",
      self->config->num_frames, self->frame_step, self->clip_stride,
      self->worker ? "async" : "sync", self->run.max_faces,
      self->run.max_tracks);
  return TRUE;

failed:
  gst_adatosk_dfer_stop (trans);
  return FALSE;
}

static gboolean
gst_adatosk_dfer_stop (GstBaseTransform *trans)
{
  GstAdatoskDfer *self = GST_ADATOSK_DFER (trans);
  AdatoskWorker *worker;
  AdatoskEngine *engine;

  GST_OBJECT_LOCK (self);
  worker = self->worker;
  self->worker = NULL;
  engine = self->engine;
  self->engine = NULL;
  self->running = FALSE;
  GST_OBJECT_UNLOCK (self);
  /* The worker first: it uses the inference. */
  adatosk_worker_free (worker);
  g_clear_pointer (&self->swap, adatosk_swap_free);
  self->swap_wanted = FALSE;
  g_clear_pointer (&self->dump, adatosk_dump_free);
  g_clear_pointer (&self->results, adatosk_results_jsonl_free);
  g_clear_pointer (&self->tracker, adatosk_tracker_free);
  g_clear_pointer (&self->faces, adatosk_faces_free);
  g_clear_pointer (&self->boxes, g_free);
  g_clear_pointer (&self->matches, g_free);
  g_clear_pointer (&self->cropper, adatosk_cropper_free);
  self->inference = NULL;
  adatosk_engine_release (engine);
  g_clear_pointer (&self->class_labels, g_strfreev);
  g_clear_pointer (&self->model_name, g_free);
  self->config = NULL;
  self->have_info = FALSE;
  GST_DEBUG_OBJECT (self, "stopped");
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* caps */

static gboolean
gst_adatosk_dfer_set_caps (GstBaseTransform *trans, GstCaps *incaps,
    G_GNUC_UNUSED GstCaps *outcaps)
{
  GstAdatoskDfer *self = GST_ADATOSK_DFER (trans);
  GstVideoInfo info;
  AdatoskCropper *cropper;
  AdatoskBox probe;
  GstBuffer *buffer;
  GstVideoFrame frame;
  gfloat *scratch;
  gboolean ok;

  if (!gst_video_info_from_caps (&info, incaps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Unsupported video caps %" GST_PTR_FORMAT, incaps),
        ("Put videoconvert in front of adatoskdfer."));
    return FALSE;
  }
  if (self->have_info && gst_video_info_is_equal (&info, &self->info))
    return TRUE;

  cropper = adatosk_cropper_new (&info, self->config->img_width,
      self->config->img_height, self->config->mean, self->config->std,
      gst_adatosk_dfer_crop_margin (self, self->config));
  /* Prove GstVideoConverter reads this format before any data arrives. */
  buffer = gst_buffer_new_allocate (NULL, info.size, NULL);
  gst_buffer_memset (buffer, 0, 0, info.size);
  scratch = g_new (gfloat,
      (gsize) 3 * self->config->img_width * self->config->img_height);
  probe.x = 0;
  probe.y = 0;
  probe.w = GST_VIDEO_INFO_WIDTH (&info);
  probe.h = GST_VIDEO_INFO_HEIGHT (&info);
  ok = gst_video_frame_map (&frame, &info, buffer, GST_MAP_READ);
  if (ok) {
    ok = adatosk_cropper_run (cropper, &frame, &probe, scratch);
    gst_video_frame_unmap (&frame);
  }
  g_free (scratch);
  gst_buffer_unref (buffer);
  if (!ok) {
    adatosk_cropper_free (cropper);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Cannot convert %s video to the model's input",
            gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&info))),
        ("Put videoconvert in front of adatoskdfer."));
    return FALSE;
  }

  GST_INFO_OBJECT (self, "%s %dx%d: resetting the tracks",
      gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&info)),
      GST_VIDEO_INFO_WIDTH (&info), GST_VIDEO_INFO_HEIGHT (&info));
  g_clear_pointer (&self->cropper, adatosk_cropper_free);
  self->cropper = cropper;
  self->info = info;
  self->have_info = TRUE;
  adatosk_tracker_reset (self->tracker, "new caps");
  return TRUE;
}

static GstFlowReturn
gst_adatosk_dfer_transform_ip (GstBaseTransform *trans, GstBuffer *buf)
{
  GstAdatoskDfer *self = GST_ADATOSK_DFER (trans);
  const AdatoskFace *faces;
  guint n;
  GstFlowReturn ret;

  if (G_UNLIKELY (!self->have_info)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before data"),
        ("Upstream pushed a buffer before a CAPS event."));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  gst_adatosk_dfer_swap_model (self);
  if (!gst_adatosk_dfer_collect (self))
    return GST_FLOW_ERROR;

  gst_adatosk_dfer_gather_faces (self, buf);
  faces = adatosk_faces_get (self->faces, &n);
  for (guint i = 0; i < n; i++)
    self->boxes[i] = faces[i].box;
  adatosk_tracker_update (self->tracker, self->boxes, n, self->matches);

  ret = gst_adatosk_dfer_sample_tracks (self, buf);
  if (ret != GST_FLOW_OK)
    return ret;
  for (guint i = 0; i < n; i++) {
    if (self->matches[i] != NULL && self->matches[i]->result != NULL)
      adatosk_dfer_result_attach (self->matches[i]->result, buf, faces[i].roi);
  }
  return GST_FLOW_OK;
}

/* ------------------------------------------------------------------------ */
/* events and queries */

/* The frame history breaks here (`why`): drop the tracks and their
 * half-filled clips, so no clip mixes frames from before and after. Clips
 * already handed to the worker still arrive (as messages: their tracks are
 * gone). */
static void
break_history (GstAdatoskDfer *self, const gchar *why)
{
  GST_DEBUG_OBJECT (self, "%s: the frame history breaks", why);
  if (self->tracker != NULL)
    adatosk_tracker_reset (self->tracker, why);
  gst_adatosk_dfer_reset_qos (self);
}

static gboolean
gst_adatosk_dfer_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstAdatoskDfer *self = GST_ADATOSK_DFER (trans);

  GST_LOG_OBJECT (self, "%" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      /* Not serialised: only wake a streaming thread waiting for the worker
       * (see the locking notes in gstadatoskdfer.h). */
      GST_DEBUG_OBJECT (self, "flush start: dropping pending clips");
      GST_OBJECT_LOCK (self);
      if (self->worker != NULL)
        adatosk_worker_flush (self->worker);
      GST_OBJECT_UNLOCK (self);
      break;
    case GST_EVENT_FLUSH_STOP:
      if (self->worker != NULL)
        adatosk_worker_flush (self->worker);
      break_history (self, "flush");
      break;
    case GST_EVENT_SEGMENT: {
      const GstSegment *segment;
      GstSegment next;

      /* A segment that differs from the current one is a jump: a
       * non-flushing seek or a new piece of the timeline. The first one
       * finds no tracks; a repeated identical one changes nothing (the
       * position is not compared: base transform moves it with every
       * buffer). */
      gst_event_parse_segment (event, &segment);
      next = *segment;
      next.position = trans->segment.position;
      if (!gst_segment_is_equal (&next, &trans->segment))
        break_history (self, "new segment");
      break;
    }
    case GST_EVENT_STREAM_START:
      /* Another stream (gapless playback, a new file into the same
       * pipeline): its first frame does not follow the last one, it may
       * come without face ROIs (auto mode falls back to the whole frame
       * until they appear) and from a source that is live or not. */
      break_history (self, "new stream");
      self->roi_seen = FALSE;
      self->upstream_live = -1;
      break;
    case GST_EVENT_GAP:
      /* Frames are missing for a while: a clip across the gap would not be
       * sampled evenly in time. */
      break_history (self, "gap");
      break;
    case GST_EVENT_EOS:
      GST_DEBUG_OBJECT (self, "end of stream: draining");
      gst_adatosk_dfer_drain (self);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

/* QoS events from downstream: remember the earliest running time it can
 * still use (sync mode drops clips due on earlier frames). Base transform
 * keeps its own copy for its `qos` property, which drops whole frames and is
 * off by default. */
static gboolean
gst_adatosk_dfer_src_event (GstBaseTransform *trans, GstEvent *event)
{
  GstAdatoskDfer *self = GST_ADATOSK_DFER (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_QOS)
    gst_adatosk_dfer_qos_update (self, event);
  return GST_BASE_TRANSFORM_CLASS (parent_class)->src_event (trans, event);
}

static gboolean
gst_adatosk_dfer_query (GstBaseTransform *trans, GstPadDirection direction,
    GstQuery *query)
{
  GstAdatoskDfer *self = GST_ADATOSK_DFER (trans);
  gboolean ret;

  ret =
      GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction, query);
  if (ret && direction == GST_PAD_SRC
      && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    gboolean live;
    GstClockTime min, max, ours;

    gst_query_parse_latency (query, &live, &min, &max);
    GST_OBJECT_LOCK (self);
    ours = self->latency;
    GST_OBJECT_UNLOCK (self);
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += ours;
    GST_DEBUG_OBJECT (self, "adding %" GST_TIME_FORMAT " of latency",
        GST_TIME_ARGS (ours));
    gst_query_set_latency (query, live, min, max);
  }
  return ret;
}

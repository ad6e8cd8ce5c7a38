#!/usr/bin/env bash
# Installs everything adatoskdfer needs to build, test and run on Debian 12.
# Safe to run again; needs root or sudo.
set -euo pipefail

packages=(
  # build
  meson ninja-build pkg-config gcc libc6-dev
  libglib2.0-dev libjson-glib-dev libopenblas-dev
  # the element
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-opencv opencv-data
  # adatoskoverlay draws with Cairo and Pango
  libcairo2-dev libpango1.0-dev
  # the Vulkan backend and its tests on Mesa's lavapipe
  libvulkan-dev glslc spirv-tools mesa-vulkan-drivers vulkan-validationlayers
  vulkan-tools   # vulkaninfo, for scripts/gpu-check.sh
  # the PyTorch reference, parity fixtures and training
  python3 python3-torch python3-numpy python3-pytest python3-matplotlib python3-pil
  # still faces found, warped and rendered as videos for training (train/render_stills.py)
  python3-opencv
  # train/make_dataset.py runs GStreamer (facedetect, GstVideoConverter) from Python
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  # GstValueArray fields (probabilities...) from Python: gst-python's overrides
  python3-gst-1.0
  # memory checks
  valgrind
  # the C formatter (.clang-format; scripts/check-format.sh, suite 'format')
  clang-format-14
)

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# npm fetches the face videos (tests/media/fetch-media.sh); Node.js 20 with npm
# is on these machines already, Debian's npm is the fallback.
command -v npm >/dev/null || $sudo apt-get install -y -qq --no-install-recommends npm >/dev/null
echo "setup: all packages installed"

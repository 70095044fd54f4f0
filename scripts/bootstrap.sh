#!/usr/bin/env bash
# Installs the system libraries alexconv builds against (Debian/Ubuntu package names):
#   oneDNN (the forward pass's CPU kernels), OpenBLAS (GEMM for the reference forward pass),
#   libhdf5 (Keras files), libpng + libjpeg-turbo (images), zlib (deflated zip entries),
#   pkg-config (how SwiftPM finds them).
# Safe to run again. Needs root or sudo.
set -euo pipefail
packages=(libdnnl-dev libopenblas-dev libhdf5-dev libpng-dev libjpeg62-turbo-dev zlib1g-dev pkg-config)
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${packages[@]}" >/dev/null
echo "bootstrap: system packages ready (${packages[*]})" >&2

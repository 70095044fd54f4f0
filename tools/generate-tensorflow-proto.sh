#!/usr/bin/env bash
# Regenerates Sources/AlexConvTensorFlow/Generated/*.pb.swift from the message subsets in
# Sources/AlexConvTensorFlow/Proto/ (tensor_bundle.proto: bundle header and entries, shapes, slices,
# dtypes, TrackableObjectGraph; saved_metadata.proto: tf.keras' keras_metadata.pb).
#
# Run after changing a .proto there; the generated files are committed so that building alexconv
# needs neither protoc nor TensorFlow. Inputs:
#   - protoc (Debian package protobuf-compiler, /usr/bin/protoc)
#   - protoc-gen-swift built from swift-protobuf at the tag Package.swift resolves (1.39.0):
#       git clone https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#       git -C /tmp/swift-protobuf checkout 1.39.0
#       (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
#     then pass PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift
# The .proto files say which TensorFlow / tf-keras source (path and commit) each message was copied
# from. Messages are generated with internal visibility: AlexConvTensorFlow's public API speaks
# TensorBundle and Model.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
plugin="${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}"
protoc="${PROTOC:-protoc}"
src="$here/Sources/AlexConvTensorFlow/Proto"
out="$here/Sources/AlexConvTensorFlow/Generated"

[ -x "$plugin" ] || { echo "protoc-gen-swift not found at $plugin (set PROTOC_GEN_SWIFT)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
for proto in "$src"/*.proto; do
  name="$(basename "$proto" .proto)"
  "$protoc" --plugin=protoc-gen-swift="$plugin" --proto_path="$src" \
    --swift_opt=Visibility=Internal --swift_opt=FileNaming=DropPath \
    --swift_out="$work" "$proto"
  {
    echo "// GENERATED FILE - DO NOT EDIT. Regenerate with tools/generate-tensorflow-proto.sh."
    echo "// Source: Sources/AlexConvTensorFlow/Proto/$name.proto (sha256 $(sha256sum "$proto" | cut -d' ' -f1))"
    echo "// Generator: $("$protoc" --version), protoc-gen-swift $("$plugin" --version 2>/dev/null | awk '{print $NF}')"
    echo
    cat "$work/$name.pb.swift"
  } > "$out/$name.pb.swift"
  echo "wrote $out/$name.pb.swift"
done

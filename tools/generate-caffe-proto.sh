#!/usr/bin/env bash
# Regenerates Sources/AlexConvCaffe/Generated/caffe.pb.swift from Sources/AlexConvCaffe/Proto/caffe.proto.
#
# caffe.proto is BVLC/caffe's src/caffe/proto/caffe.proto, copied unchanged (its license note sits
# beside it in Proto/LICENSE). The generated file is committed so that building alexconv needs
# neither protoc nor Caffe. Inputs:
#   - protoc (Debian package protobuf-compiler, /usr/bin/protoc)
#   - protoc-gen-swift built from swift-protobuf at the tag Package.swift resolves (1.39.0):
#       git clone https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#       git -C /tmp/swift-protobuf checkout 1.39.0
#       (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
#     then pass PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift
# The messages are generated with internal visibility: they are an implementation detail of
# AlexConvCaffe, whose public API speaks TensorBundle and Model.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
proto="$here/Sources/AlexConvCaffe/Proto/caffe.proto"
plugin="${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}"
protoc="${PROTOC:-protoc}"
out="$here/Sources/AlexConvCaffe/Generated"

[ -f "$proto" ] || { echo "caffe.proto not found at $proto" >&2; exit 1; }
[ -x "$plugin" ] || { echo "protoc-gen-swift not found at $plugin (set PROTOC_GEN_SWIFT)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$proto" "$work/caffe.proto"
"$protoc" --plugin=protoc-gen-swift="$plugin" --proto_path="$work" \
  --swift_opt=Visibility=Internal --swift_opt=FileNaming=DropPath \
  --swift_out="$work" "$work/caffe.proto"

mkdir -p "$out"
{
  echo "// GENERATED FILE - DO NOT EDIT. Regenerate with tools/generate-caffe-proto.sh."
  echo "// Source: Sources/AlexConvCaffe/Proto/caffe.proto, BVLC/caffe src/caffe/proto/caffe.proto (sha256 $(sha256sum "$proto" | cut -d' ' -f1))"
  echo "// Generator: $("$protoc" --version), protoc-gen-swift $("$plugin" --version 2>/dev/null | awk '{print $NF}')"
  echo
  cat "$work/caffe.pb.swift"
} > "$out/caffe.pb.swift"
echo "wrote $out/caffe.pb.swift"

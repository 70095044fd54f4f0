#!/usr/bin/env bash
# Regenerates Sources/AlexConvONNX/Generated/onnx.pb.swift from onnx.proto.
#
# Run once per ONNX schema update; the generated file is committed so that building alexconv needs
# neither protoc nor Python. Inputs:
#   - onnx.proto from the `onnx` PyPI wheel (found in the fixture venv, or pass ONNX_PROTO=path)
#   - protoc (Debian package protobuf-compiler, /usr/bin/protoc)
#   - protoc-gen-swift built from swift-protobuf at the tag Package.swift resolves (1.39.0):
#       git clone https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#       git -C /tmp/swift-protobuf checkout 1.39.0
#       (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
#     then pass PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift
# The messages are generated with internal visibility: they are an implementation detail of
# AlexConvONNX, whose public API speaks TensorBundle and Model.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ALEXCONV_VENV:-$here/.venv-fixtures}"
proto="${ONNX_PROTO:-$("$venv/bin/python" -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "onnx.proto"))')}"
onnx_version="${ONNX_VERSION:-$("$venv/bin/python" -c 'import onnx; print(onnx.__version__)' 2>/dev/null || echo unknown)}"
plugin="${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf-onnx/.build/release/protoc-gen-swift}"
protoc="${PROTOC:-protoc}"
out="$here/Sources/AlexConvONNX/Generated"

[ -f "$proto" ] || { echo "onnx.proto not found at $proto (set ONNX_PROTO)" >&2; exit 1; }
[ -x "$plugin" ] || { echo "protoc-gen-swift not found at $plugin (set PROTOC_GEN_SWIFT)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$proto" "$work/onnx.proto"
"$protoc" --plugin=protoc-gen-swift="$plugin" --proto_path="$work" \
  --swift_opt=Visibility=Internal --swift_opt=FileNaming=DropPath \
  --swift_out="$work" "$work/onnx.proto"

mkdir -p "$out"
{
  echo "// GENERATED FILE - DO NOT EDIT. Regenerate with tools/generate-onnx-proto.sh."
  echo "// Source: onnx.proto from the onnx $onnx_version wheel (sha256 $(sha256sum "$proto" | cut -d' ' -f1))"
  echo "// Generator: $("$protoc" --version), protoc-gen-swift $("$plugin" --version 2>/dev/null | awk '{print $NF}')"
  echo
  cat "$work/onnx.pb.swift"
} > "$out/onnx.pb.swift"
echo "wrote $out/onnx.pb.swift"

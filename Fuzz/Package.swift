// swift-tools-version:5.4
// (5.4 on purpose: from 5.5 SwiftPM renames an executable's entry point to <module>_main and links
// main to it, which collides with libFuzzer supplying main.)
import Foundation
import PackageDescription

// SwiftPM names a path dependency after its folder: whatever the checkout is called (main, a CI
// clone, ...), that is the package name the products are looked up in.
let mainPackage = URL(fileURLWithPath: #file).deletingLastPathComponent().deletingLastPathComponent()
    .standardizedFileURL.lastPathComponent.lowercased()

// libFuzzer targets for every alexconv parser. A separate package so `swift test` on the main
// package never builds them. Build (see scripts/fuzz.sh):
//   swift build -c debug --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// Each target defines `LLVMFuzzerTestOneInput`; libFuzzer supplies `main`.
//
// The targets depend on the umbrella `AlexConv` product and import the format modules it is built
// from (AlexConvPickle, AlexConvZip, ...): they are compiled as part of that product.

let fuzzTargets = [
    "FuzzNpyHeader",  // npy preamble + header dict, single arrays (run/verify/diff inputs), the whole .npy reader
    "FuzzPickle",  // pickle VM with the torch and numpy allow-lists
    "FuzzZipDirectory",  // zip central directory + every entry's bytes (stored view / bounded inflate)
    "FuzzSafetensors",  // safetensors header JSON and offsets
    "FuzzTorchArchive",  // torch zip archive and legacy torch.save streams
    "FuzzKerasHDF5",  // HDF5 through libhdf5 (input written to a temp file) and the Keras readers
    "FuzzONNX",  // ONNX ModelProto (swift-protobuf) and the graph importer
    "FuzzImages",  // PNG / JPEG (libpng, libjpeg via the C shim) and PPM/PGM
    "FuzzTensorFlowIndex",  // TensorFlow .index: LevelDB table, bundle header and entries, tensors
    "FuzzCaffe",  // caffemodel wire scanner + layer chain, prototxt TextFormat, mean BlobProto
    "FuzzLabels",  // evaluate's label files: Caffe val.txt and CSV
]

let package = Package(
    name: "alexconv-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "AlexConv", package: mainPackage)])
    ]
        + fuzzTargets.map { name in
            .executableTarget(
                name: name,
                dependencies: [
                    "FuzzSupport", .product(name: "AlexConv", package: mainPackage),
                ])
        }
)

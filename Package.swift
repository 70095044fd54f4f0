// swift-tools-version: 6.0
import PackageDescription

// Layers, bottom to top:
//   C system libraries (CBLAS, CHDF5, CImageCodecs, CSystemZlib, CDNNL): module map + shim header, nothing else.
//   AlexConvCore: tensors, dtypes, architecture spec, presets, canonical model, layout rules,
//                 recognizer, safetensors (the canonical file builds on it), atomic output.
//   Container layers (Pickle, Zip, HDF5): how a container's bytes are laid out and checked, no
//                 knowledge of weights; they read through Core's ByteCursor.
//   One target per format family (NumPy, Torch, Keras, ONNX, TensorFlow, Caffe) on those layers.
//   AlexConvForward: the forward pass (compute only: compiled plan, convolution, pooling, BLAS, oneDNN).
//   AlexConvImages: image decoding (PNG, JPEG, PPM), preprocessing by the spec's input, ImageNet names.
//   AlexConv: the umbrella library and its public API (format registry, load/transform/export,
//             and the tasks: run, predict, verify, diff, reports).
//   alexconv: the command-line tool (argument handling only).
let package = Package(
    name: "alexconv",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "AlexConv", targets: ["AlexConv"]),
        .executable(name: "alexconv", targets: ["alexconv"]),
        .executable(name: "alexconv-bench", targets: ["alexconv-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // MARK: - C system libraries
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]),
        .systemLibrary(
            name: "CHDF5", pkgConfig: "hdf5-serial",
            providers: [.apt(["libhdf5-dev"]), .brew(["hdf5"])]),
        .systemLibrary(
            name: "CSystemZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .systemLibrary(
            name: "CImageCodecs", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev", "libjpeg62-turbo-dev"]), .brew(["libpng", "jpeg-turbo"])]),
        // oneDNN (CNN kernels chosen by CPU features). Debian ships no .pc file: link flags in the
        // module map. Linux builds require it (scripts/bootstrap.sh); macOS runs the reference path.
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),

        // MARK: - Library
        .target(name: "AlexConvCore"),
        .target(name: "AlexConvPickle", dependencies: ["AlexConvCore"]),
        .target(name: "AlexConvZip", dependencies: ["AlexConvCore", "CSystemZlib"]),
        .target(name: "AlexConvNumPy", dependencies: ["AlexConvCore", "AlexConvPickle", "AlexConvZip"]),
        .target(name: "AlexConvTorch", dependencies: ["AlexConvCore", "AlexConvPickle", "AlexConvZip"]),
        .target(name: "AlexConvHDF5", dependencies: ["AlexConvCore", "CHDF5"]),
        .target(name: "AlexConvKeras", dependencies: ["AlexConvCore", "AlexConvHDF5", "AlexConvZip"]),
        .target(name: "AlexConvONNX", dependencies: ["AlexConvCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(
            name: "AlexConvTensorFlow",
            dependencies: [
                "AlexConvCore", "AlexConvKeras", "AlexConvNumPy", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ], exclude: ["Proto"]),
        .target(
            name: "AlexConvCaffe", dependencies: ["AlexConvCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Proto"]),
        .target(
            name: "AlexConvForward",
            dependencies: [
                "AlexConvCore", "CBLAS", .target(name: "CDNNL", condition: .when(platforms: [.linux])),
            ]),
        .target(name: "AlexConvImages", dependencies: ["AlexConvCore", "CImageCodecs"]),
        .target(
            name: "AlexConv",
            dependencies: [
                "AlexConvCore", "AlexConvPickle", "AlexConvZip", "AlexConvNumPy", "AlexConvTorch",
                "AlexConvHDF5", "AlexConvKeras", "AlexConvONNX", "AlexConvTensorFlow", "AlexConvCaffe", "AlexConvForward", "AlexConvImages",
            ]),

        // MARK: - Executables
        .executableTarget(
            name: "alexconv",
            dependencies: [
                "AlexConv", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "alexconv-bench",
            dependencies: [
                "AlexConv", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: - Tests (one per module; fixtures are read from Fixtures/)
        .target(name: "TestSupport", dependencies: ["AlexConvCore"], path: "Tests/TestSupport"),
        .testTarget(name: "AlexConvCoreTests", dependencies: ["AlexConvCore", "TestSupport"]),
        .testTarget(name: "AlexConvPickleTests", dependencies: ["AlexConvPickle", "TestSupport"]),
        .testTarget(name: "AlexConvZipTests", dependencies: ["AlexConvZip", "TestSupport"]),
        .testTarget(name: "AlexConvNumPyTests", dependencies: ["AlexConvNumPy", "TestSupport"]),
        .testTarget(name: "AlexConvTorchTests", dependencies: ["AlexConvTorch", "TestSupport"]),
        .testTarget(name: "AlexConvHDF5Tests", dependencies: ["AlexConvHDF5", "TestSupport"]),
        .testTarget(name: "AlexConvKerasTests", dependencies: ["AlexConvKeras", "AlexConvHDF5", "TestSupport"]),
        .testTarget(name: "AlexConvONNXTests", dependencies: ["AlexConvONNX", "TestSupport"]),
        .testTarget(name: "AlexConvTensorFlowTests", dependencies: ["AlexConvTensorFlow", "AlexConvForward", "AlexConvNumPy", "TestSupport"]),
        .testTarget(
            name: "AlexConvCaffeTests",
            dependencies: [
                "AlexConvCaffe", "AlexConv", "AlexConvImages", "AlexConvNumPy", "TestSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
        .testTarget(name: "AlexConvForwardTests", dependencies: ["AlexConvForward", "AlexConvNumPy", "TestSupport"]),
        .testTarget(name: "AlexConvImagesTests", dependencies: ["AlexConvImages", "AlexConvNumPy", "TestSupport"]),
        .testTarget(name: "AlexConvTests", dependencies: ["AlexConv", "TestSupport"]),
    ]
)

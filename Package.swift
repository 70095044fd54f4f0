// swift-tools-version: 6.0
import PackageDescription

// Layers, bottom to top:
//   C system libraries (CBLAS, CHDF5, CImageCodecs): module map + shim header, nothing else.
//   AlexConvCore: tensors, dtypes, architecture spec, presets, canonical model, layout rules,
//                 recognizer, safetensors (the canonical file builds on it), atomic output.
//   One target per format family (Pickle, Zip, NumPy, Torch, Keras, ONNX, Caffe) and the forward pass.
//   AlexConv: the umbrella library (format detection, import/export/convert, verify).
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
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // MARK: - C system libraries
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial",
                       providers: [.apt(["libhdf5-dev"]), .brew(["hdf5"])]),
        .systemLibrary(name: "CImageCodecs", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev", "libjpeg62-turbo-dev"]), .brew(["libpng", "jpeg-turbo"])]),

        // MARK: - Library
        .target(name: "AlexConvCore"),
        .target(name: "AlexConvPickle", dependencies: ["AlexConvCore"]),
        .target(name: "AlexConvZip", dependencies: ["AlexConvCore", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        .target(name: "AlexConvNumPy", dependencies: ["AlexConvCore", "AlexConvPickle", "AlexConvZip"]),
        .target(name: "AlexConvTorch", dependencies: ["AlexConvCore", "AlexConvPickle", "AlexConvZip"]),
        .target(name: "AlexConvKeras", dependencies: ["AlexConvCore", "CHDF5", "AlexConvZip"]),
        .target(name: "AlexConvONNX", dependencies: ["AlexConvCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "AlexConvCaffe", dependencies: ["AlexConvCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["Proto"]),
        .target(name: "AlexConvForward", dependencies: ["AlexConvCore", "CBLAS", "CImageCodecs"]),
        .target(name: "AlexConv", dependencies: [
            "AlexConvCore", "AlexConvPickle", "AlexConvZip", "AlexConvNumPy", "AlexConvTorch",
            "AlexConvKeras", "AlexConvONNX", "AlexConvCaffe", "AlexConvForward",
        ]),

        // MARK: - Executables
        .executableTarget(name: "alexconv", dependencies: [
            "AlexConv", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "alexconv-bench", dependencies: [
            "AlexConv", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: - Tests (one per module; fixtures are read from Fixtures/)
        .target(name: "TestSupport", dependencies: ["AlexConvCore"], path: "Tests/TestSupport"),
        .testTarget(name: "AlexConvCoreTests", dependencies: ["AlexConvCore", "TestSupport"]),
        .testTarget(name: "AlexConvPickleTests", dependencies: ["AlexConvPickle", "TestSupport"]),
        .testTarget(name: "AlexConvZipTests", dependencies: ["AlexConvZip", "TestSupport"]),
        .testTarget(name: "AlexConvNumPyTests", dependencies: ["AlexConvNumPy", "TestSupport"]),
        .testTarget(name: "AlexConvTorchTests", dependencies: ["AlexConvTorch", "TestSupport"]),
        .testTarget(name: "AlexConvKerasTests", dependencies: ["AlexConvKeras", "TestSupport"]),
        .testTarget(name: "AlexConvONNXTests", dependencies: ["AlexConvONNX", "TestSupport"]),
        .testTarget(name: "AlexConvCaffeTests", dependencies: [
            "AlexConvCaffe", "AlexConv", "TestSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .testTarget(name: "AlexConvForwardTests", dependencies: ["AlexConvForward", "TestSupport"]),
        .testTarget(name: "AlexConvTests", dependencies: ["AlexConv", "TestSupport"]),
    ]
)

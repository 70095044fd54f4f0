import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvTorch

// MARK: - Helpers

func torchFixture(_ name: String) -> String { FixturePaths.path("torch/\(name)") }

func expectedTensors(_ name: String) throws -> TensorBundle {
    try Safetensors.read(path: torchFixture("expected_\(name).safetensors"))
}

func errorText(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "no error"
    } catch { return "\(error)" }
}

/// Every expected tensor is present under the same name with bit-identical values (after
/// converting the expected float32 values to `dtype` where the file holds a narrower type).
func expectBitExact(
    _ bundle: TensorBundle, _ expected: TensorBundle, as dtype: DType? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(bundle.tensors.map(\.name).sorted() == expected.tensors.map(\.name).sorted(), sourceLocation: sourceLocation)
    for item in expected.tensors {
        guard let tensor = bundle[item.name] else { continue }
        let want = dtype.map { item.tensor.dtype.isFloatingPoint ? item.tensor.contiguous(as: $0) : item.tensor } ?? item.tensor
        #expect(tensor.shape == want.shape && tensor.dtype == want.dtype, "\(item.name): \(tensor) vs \(want)", sourceLocation: sourceLocation)
        #expect(tensor.bitwiseEqual(want), "\(item.name) differs", sourceLocation: sourceLocation)
    }
}

// MARK: - Key styles

@Test(arguments: [
    ("torchvision.pth", "torchvision"), ("torchvision_legacy.pth", "torchvision"),
    ("alexnet_v1.pth", "alexnet_v1"), ("half.pth", "half"),
    ("alexnet8_net.pth", "alexnet8"), ("caffe_grouped_model.pth", "caffe_grouped"),
    ("checkpoint.pth", "torchvision"),
])
func readsStateDictsBitExactly(_ file: String, _ expectedName: String) throws {
    let bundle = try TorchArchiveReader.read(path: torchFixture(file))
    #expect(bundle.layout == .channelsFirst)
    expectBitExact(bundle, try expectedTensors(expectedName))
}

@Test func keepsFileOrderAndTorchvisionKeys() throws {
    let bundle = try TorchArchiveReader.read(path: torchFixture("torchvision.pth"))
    #expect(
        bundle.tensors.map(\.name) == [
            "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
            "features.6.weight", "features.6.bias", "features.8.weight", "features.8.bias",
            "features.10.weight", "features.10.bias", "classifier.1.weight", "classifier.1.bias",
            "classifier.4.weight", "classifier.4.bias", "classifier.6.weight", "classifier.6.bias",
        ])
    #expect(bundle["features.0.weight"]?.shape == [8, 3, 11, 11])
    #expect(bundle["classifier.1.weight"]?.shape == [32, 576])
    #expect(bundle.metadata["torch.archive_folder"] == "torchvision")
}

@Test func zipTensorsViewTheMapWithoutCopying() throws {
    let bundle = try TorchArchiveReader.read(path: torchFixture("torchvision.pth"))
    let tensor = try #require(bundle["features.0.weight"])
    #expect(tensor.isContiguous)
    // Storage records are 64-byte aligned in the file, so the view is too.
    #expect(Int(bitPattern: tensor.storage.bytes.baseAddress!) % 64 == 0)
}

// MARK: - Checkpoints

@Test func unwrapsCheckpointAndNotesIgnoredEntries() throws {
    let bundle = try TorchArchiveReader.read(path: torchFixture("checkpoint.pth"))
    let notes = bundle.notes.joined(separator: "\n")
    #expect(notes.contains("model_state_dict"))
    #expect(notes.contains("epoch (int 5)") && notes.contains("optimizer_state_dict") && notes.contains("loss"))
}

@Test func stripsDataParallelPrefixInFloat16() throws {
    let bundle = try TorchArchiveReader.read(path: torchFixture("dataparallel_fp16.pth"))
    #expect(bundle.tensors.allSatisfy { !$0.name.hasPrefix("module.") })
    #expect(bundle.notes.contains { $0.contains("module.") })
    #expect(bundle["features.0.weight"]?.dtype == .float16)
    expectBitExact(bundle, try expectedTensors("torchvision"), as: .float16)
}

@Test func readsBFloat16() throws {
    let bundle = try TorchArchiveReader.read(path: torchFixture("torchvision_bf16.pth"))
    #expect(bundle["classifier.6.weight"]?.dtype == .bfloat16)
    expectBitExact(bundle, try expectedTensors("torchvision"), as: .bfloat16)
}

// MARK: - Views and dtypes

@Test func readsStridedViewsSharingOneStorage() throws {
    let bundle = try TorchArchiveReader.read(path: torchFixture("views.pth"))
    expectBitExact(bundle, try Safetensors.read(path: torchFixture("expected_views.safetensors")))
    let base = try #require(bundle["base"])
    let transposed = try #require(bundle["transposed"])
    #expect(!transposed.isContiguous)
    #expect(transposed.storage === base.storage)
    #expect(bundle["scalar"]?.shape == [])
    #expect(bundle["scalar"]?.floats() == [Float(3 * 8 + 4) * 0.5 - 3])
}

@Test(arguments: ["dtypes.pth", "dtypes_legacy.pth"])
func readsEveryDType(_ file: String) throws {
    let bundle = try TorchArchiveReader.read(path: torchFixture(file))
    let values = (0..<24).map { Double($0) * 0.25 - 1 }
    #expect(bundle["f32"]?.dtype == .float32 && bundle["f32"]?.shape == [2, 3, 4])
    for name in ["f32", "f16", "bf16", "f64"] {
        #expect(bundle[name]?.doubles() == values, "\(name)")
    }
    #expect(bundle["f16"]?.dtype == .float16 && bundle["bf16"]?.dtype == .bfloat16 && bundle["f64"]?.dtype == .float64)
    #expect(bundle["i64"]?.dtype == .int64)
    #expect(bundle["i64"]?.doubles() == (-5..<5).map { Double($0) * 1e12 })
    #expect(bundle["i32"]?.doubles() == (-3..<3).map(Double.init))
    #expect(bundle["u8"]?.doubles() == [0, 50, 100, 150, 200])
    #expect(bundle["b"]?.dtype == .bool && bundle["b"]?.doubles() == [1, 0, 1])
}

@Test func libraryWrittenSafetensorsReadByCore() throws {
    let bundle = try Safetensors.read(path: torchFixture("library_dtypes.safetensors"))
    let torch = try TorchArchiveReader.read(path: torchFixture("dtypes.pth"))
    for name in ["f32", "f16", "bf16", "i64"] {
        let a = try #require(bundle[name])
        let b = try #require(torch[name])
        #expect(a.bitwiseEqual(b), "\(name)")
    }
    #expect(bundle.metadata["made_by"] == "safetensors.torch")
}

// MARK: - Detection

@Test func matchesZipAndLegacyPrefixes() throws {
    for (file, expected) in [
        ("torchvision.pth", true), ("torchvision_legacy.pth", true),
        ("expected_views.safetensors", false), ("zip/numpy_savez.npz", false),
    ] {
        let data = try Data(contentsOf: URL(fileURLWithPath: torchFixture(file)))
        let prefix = data.prefix(4096)
        let matched = prefix.withUnsafeBytes { TorchArchiveReader.matches(path: "x", prefix: $0) }
        #expect(matched == expected, "\(file)")
    }
}

import AlexConvCore
import AlexConvHDF5
import Foundation
import TestSupport
import Testing

@testable import AlexConvKeras

// MARK: - Helpers

func kerasFixture(_ name: String) -> String { FixturePaths.path("keras/" + name) }

/// expected.json: per file, per HDF5 dataset path: shape, sum and first element (from h5py).
struct ExpectedTensor: Decodable {
    let shape: [Int]
    let sum: Double
    let first: Double
}
struct ExpectedFile: Decodable { let tensors: [String: [String: ExpectedTensor]] }

let expectedTensors: [String: [String: ExpectedTensor]] = {
    let data = FileManager.default.contents(atPath: kerasFixture("expected.json"))!
    return try! JSONDecoder().decode(ExpectedFile.self, from: data).tensors
}()

/// Tensors in hint order per kind (conv, batchnorm, dense): the order the recognizer uses.
func tensorsInLayerOrder(_ bundle: TensorBundle) -> [Tensor] {
    let hints = bundle.layerHints ?? []
    return [LayerHint.Kind.conv, .batchNorm, .dense].flatMap { kind in
        hints.filter { $0.kind == kind }.flatMap { $0.tensorNames.map { bundle[$0]! } }
    }
}

/// The HDF5 dataset path of a bundle tensor, for expected.json.
func datasetPath(_ bundle: TensorBundle, _ name: String, full: Bool) -> String {
    if name.contains("/vars/") { return name }
    let layer = bundle.layerHints!.first { $0.tensorNames.contains(name) }!.name
    return (full ? "model_weights/" : "") + layer + "/" + name
}

// MARK: - Reading fixtures written by Keras

@Suite struct KerasReaderTests {
    @Test(arguments: [
        ("keras3_bn.h5", true), ("tfkeras_bn.h5", true), ("tfkeras_bn_weights.h5", false),
        ("keras3_bn.weights.h5", false), ("keras3_subclass.weights.h5", false),
        ("tfkeras_functional.h5", true), ("keras3_grouped.h5", true), ("keras2_split_attrs_weights.h5", false),
    ])
    func readsEveryTensorAsH5pySeesIt(file: String, full: Bool) throws {
        let bundle = try KerasH5Reader.read(path: kerasFixture(file))
        let expected = try #require(expectedTensors[file])
        #expect(bundle.layout == .channelsLast)
        #expect(bundle.tensors.count == expected.count)
        for named in bundle.tensors {
            let key = datasetPath(bundle, named.name, full: full)
            let want = try #require(expected[key], "no expected entry for \(key)")
            #expect(named.tensor.shape == want.shape, "\(key)")
            let values = named.tensor.doubles()
            #expect(values.first == want.first, "\(key)")
            let sum = values.reduce(0, +)
            #expect(abs(sum - want.sum) <= 1e-9 * max(1, abs(want.sum)), "\(key): sum \(sum) vs \(want.sum)")
        }
        let hinted = (bundle.layerHints ?? []).flatMap(\.tensorNames)
        #expect(Set(hinted) == Set(bundle.tensors.map(\.name)))
    }

    @Test func sameWeightsInEveryKerasFormat() throws {
        let reference = tensorsInLayerOrder(try KerasH5Reader.read(path: kerasFixture("keras3_bn.h5")))
        #expect(reference.count == 5 * 2 + 5 * 4 + 3 * 2)
        for file in ["tfkeras_bn.h5", "tfkeras_bn_weights.h5", "keras3_bn.weights.h5"] {
            let other = tensorsInLayerOrder(try KerasH5Reader.read(path: kerasFixture(file)))
            #expect(other.count == reference.count, "\(file)")
            for (a, b) in zip(reference, other) { #expect(a.bitwiseEqual(b), "\(file)") }
        }
        let archive = try KerasArchiveReader.read(path: kerasFixture("keras3_bn.keras"))
        let fromArchive = tensorsInLayerOrder(archive)
        #expect(fromArchive.count == reference.count)
        for (a, b) in zip(reference, fromArchive) { #expect(a.bitwiseEqual(b)) }
        #expect(archive.spec?.name == "keras-bn")
    }

    @Test func layerHintsFollowKerasOrder() throws {
        let bundle = try KerasH5Reader.read(path: kerasFixture("tfkeras_bn.h5"))
        let hints = try #require(bundle.layerHints)
        #expect(
            hints.map(\.kind) == [
                .conv, .batchNorm, .conv, .batchNorm, .conv, .batchNorm, .conv, .batchNorm,
                .conv, .batchNorm, .dense, .dense, .dense,
            ])
        #expect(hints[1].tensorNames.map { $0.split(separator: "/").last! } == ["gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"])
        let weightsOnly = try KerasH5Reader.read(path: kerasFixture("keras3_subclass.weights.h5"))
        #expect(weightsOnly.spec == nil)
        #expect(
            weightsOnly.layerHints?.map(\.name) == ["conv2d", "conv2d_1", "conv2d_2", "conv2d_3", "conv2d_4", "dense", "dense_1", "dense_2"]
                || weightsOnly.layerHints?.map(\.kind) == [.conv, .conv, .conv, .conv, .conv, .dense, .dense, .dense])
        #expect(weightsOnly.layerHints?.map(\.kind) == [.conv, .conv, .conv, .conv, .conv, .dense, .dense, .dense])
    }

    @Test func specFromModelConfig() throws {
        let bn = try #require(try KerasH5Reader.read(path: kerasFixture("keras3_bn.h5")).spec)
        let preset = Presets.kerasBN.spec(convWidths: [8, 16, 24, 24, 16], fcWidths: [32, 32], classes: 10)
        #expect(bn == preset)
        let tfBN = try #require(try KerasH5Reader.read(path: kerasFixture("tfkeras_bn.h5")).spec)
        #expect(tfBN == preset)

        let functional = try #require(try KerasH5Reader.read(path: kerasFixture("tfkeras_functional.h5")).spec)
        #expect(functional == Presets.keras2048.spec(convWidths: [8, 16, 24, 24, 16], fcWidths: [32, 32], classes: 10))

        let grouped = try #require(try KerasH5Reader.read(path: kerasFixture("keras3_grouped.h5")).spec)
        #expect(grouped.name == "custom")
        #expect(grouped.convs.map(\.groups) == [1, 2, 1, 2, 2])
        #expect(grouped.convs.map(\.padding) == [[0, 0, 0, 0], [2, 2, 2, 2], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]])
        #expect(grouped.input.height == 227 && grouped.input.width == 227)
        #expect(grouped.endsInSoftmax)
        #expect(grouped.denses.map(\.name) == ["fc6", "fc7", "fc8"])
    }

    @Test func samePaddingPutsTheExtraPixelAtTheEnd() {
        #expect(tensorflowSamePadding(size: 224, kernel: 11, stride: 4) == (3, 4))
        #expect(tensorflowSamePadding(size: 227, kernel: 11, stride: 4) == (4, 4))
        #expect(tensorflowSamePadding(size: 13, kernel: 3, stride: 1) == (1, 1))
        #expect(tensorflowSamePadding(size: 6, kernel: 2, stride: 2) == (0, 0))
        #expect(tensorflowSamePadding(size: 7, kernel: 2, stride: 2) == (0, 1))
    }

    @Test func snakeCaseMatchesKeras() {
        #expect(KerasModelConfig.snakeCase("Conv2D") == "conv2d")
        #expect(KerasModelConfig.snakeCase("BatchNormalization") == "batch_normalization")
        #expect(KerasModelConfig.snakeCase("MaxPooling2D") == "max_pooling2d")
        #expect(KerasModelConfig.snakeCase("ZeroPadding2D") == "zero_padding2d")
        #expect(KerasModelConfig.snakeCase("LocalResponseNormalization") == "local_response_normalization")
    }

    @Test func splitFixedLengthAttributesAreJoined() throws {
        let bundle = try KerasH5Reader.read(path: kerasFixture("keras2_split_attrs_weights.h5"))
        #expect(bundle.layerHints?.count == 13)
        #expect(bundle.spec == nil)
    }

    @Test func contiguousDatasetsAreViewsOfTheMap() throws {
        // Zero-copy views must give exactly what HDF5 itself reads.
        let path = kerasFixture("tfkeras_bn.h5")
        let storage = try ByteStorage.map(path: path)
        let file = try HDF5File.open(path: path)
        let group = try file.group("model_weights/dense").group("dense")
        for name in ["kernel:0", "bias:0"] {
            let dataset = try group.dataset(name)
            let layout = try dataset.layout()
            #expect(layout.contiguousOffset != nil)
            let view = try KerasFileReading(file: file, storage: storage, path: path).tensor(dataset)
            #expect(view.bitwiseEqual(try dataset.readAll(layout)))
        }
    }
}

// MARK: - Bad input

@Suite struct KerasBadInputTests {
    func error(reading path: String) -> String? {
        do {
            _ = try KerasH5Reader.read(path: path)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func missingModelWeightsGroup() {
        let message = error(reading: kerasFixture("broken_missing_model_weights.h5"))
        #expect(message?.contains("model_weights") == true, "\(message ?? "no error")")
        #expect(message?.contains("broken_missing_model_weights.h5") == true)
    }

    @Test func weightCountDoesNotMatchTheLayer() {
        let message = error(reading: kerasFixture("broken_weight_count.h5")) ?? "no error"
        #expect(message.contains("has 1 weights") && message.contains("needs 2: kernel, bias"), "\(message)")
    }

    @Test func kernelWithTheWrongRank() {
        let message = error(reading: kerasFixture("broken_kernel_rank.h5")) ?? "no error"
        #expect(message.contains("rank 4") && message.contains("kernel"), "\(message)")
    }

    @Test(arguments: [0, 7, 100, 2048, 40_000, 200_000])
    func truncatedFiles(keeping bytes: Int) throws {
        let source = try Data(contentsOf: URL(fileURLWithPath: kerasFixture("keras3_bn.h5")))
        let path = FixturePaths.temporaryDirectory("keras-trunc") + "/truncated.h5"
        try source.prefix(bytes).write(to: URL(fileURLWithPath: path))
        let message = error(reading: path)
        #expect(message != nil, "a truncated file (\(bytes) bytes) must not read")
        #expect(message?.contains("truncated.h5") == true, "\(message ?? "")")
    }

    /// 2100 hits a global heap object's size (libhdf5 1.10 would overrun a buffer: GlobalHeapCollection refuses it).
    @Test(arguments: [8, 40, 96, 500, 800, 1200, 2100, 2136, 4000, 6000])
    func corruptedBytes(at offset: Int) throws {
        // Overwrite 16 bytes of metadata: an error (or, where HDF5 never looks, a successful read), never a crash.
        var source = try Data(contentsOf: URL(fileURLWithPath: kerasFixture("keras3_bn.h5")))
        for i in offset..<(offset + 16) { source[i] ^= 0xA5 }
        let path = FixturePaths.temporaryDirectory("keras-corrupt") + "/corrupt.h5"
        try source.write(to: URL(fileURLWithPath: path))
        if let message = error(reading: path) {
            #expect(message.contains("corrupt.h5"), "\(message)")
        }
    }

    @Test func notAnHDF5File() throws {
        let path = FixturePaths.temporaryDirectory("keras-garbage") + "/garbage.h5"
        try Data("this is not hdf5 at all".utf8).write(to: URL(fileURLWithPath: path))
        let message = error(reading: path) ?? "no error"
        #expect(message.contains("HDF5"), "\(message)")
    }

    @Test func hdf5WithoutKerasContent() throws {
        // A valid HDF5 file that is not a Keras file (the truncated-signature case aside).
        let dir = FixturePaths.temporaryDirectory("keras-empty")
        let path = dir + "/empty.h5"
        _ = try HDF5File.create(path: path, reportedPath: path)
        let message = error(reading: path) ?? "no error"
        #expect(message.contains("not a Keras weights file"), "\(message)")
    }
}

/// Inputs FuzzKerasHDF5 found: libhdf5 1.10.8 crashed on the first two (SEGV in H5HG_read on a
/// damaged heap index; heap-buffer-overflow in H5O__attr_decode under H5Aexists) and allocated
/// 4 GB for a local heap on the third (H5HL_protect under H5Lexists).
@Test(arguments: [
    ("libhdf5-vlen-heap-index.h5", "@layer_names: corrupted: string 10 refers to heap object 16777217"),
    ("libhdf5-attribute-data-overrun.h5", ": /: corrupted attribute message at byte 984"),
    ("libhdf5-local-heap-size.h5", ": /: local heap at address 680: corrupted: a data segment of 4294967295 bytes"),
])
func fuzzFindingsAreRefused(_ name: String, _ expected: String) throws {
    let error = #expect(throws: FormatError.self) { try KerasH5Reader.read(path: FixturePaths.path("hostile/" + name)) }
    #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
}

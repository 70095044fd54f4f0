import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvTensorFlow

// MARK: - Fixtures

func tensorflowFixture(_ name: String) -> String { FixturePaths.path("tensorflow/" + name) }

/// What tf.train.load_checkpoint returned for one key (Fixtures/tensorflow/expected.json).
struct ExpectedCheckpointTensor: Decodable {
    let dtype: String
    let shape: [Int]
    let crc32c: UInt32
    let sum: Double?
    let first: Double?
}

struct ExpectedCheckpoints: Decodable {
    let checkpoints: [String: [String: ExpectedCheckpointTensor]]
}

let expectedCheckpoints: [String: [String: ExpectedCheckpointTensor]] = {
    let data = FileManager.default.contents(atPath: tensorflowFixture("expected.json"))!
    return try! JSONDecoder().decode(ExpectedCheckpoints.self, from: data).checkpoints
}()

/// The CRC-32C of a tensor's contiguous little-endian bytes (what the fixture script computed on numpy's copy).
func crc(_ tensor: Tensor) -> UInt32 { tensor.withContiguousBytes { CRC32C.checksum($0) } }

/// The key a bundle tensor came from: TF2 names lose `/.ATTRIBUTES/VARIABLE_VALUE`.
func checkpointKey(_ name: String, in expected: [String: ExpectedCheckpointTensor]) -> String {
    expected[name] != nil ? name : name + "/.ATTRIBUTES/VARIABLE_VALUE"
}

// MARK: - Reading what TensorFlow wrote

@Suite struct TensorFlowReaderTests {
    static let checkpoints = [
        "tf1/model.ckpt-1000", "tf1_partitioned/model.ckpt", "tf2_sequential/alexnet",
        "tf2_subclass/alexnet", "savedmodel/variables/variables",
    ]

    @Test(arguments: checkpoints)
    func everyWeightIsBitExactWithWhatTensorFlowReturns(prefix: String) throws {
        let expected = try #require(expectedCheckpoints[prefix])
        let bundle = try TensorFlowCheckpointReader.read(path: tensorflowFixture(prefix))
        #expect(bundle.layout == .channelsLast)
        #expect(!bundle.tensors.isEmpty)
        for named in bundle.tensors {
            let key = checkpointKey(named.name, in: expected)
            let want = try #require(expected[key], "no expected entry for \(key)")
            #expect(named.tensor.shape == want.shape, "\(key)")
            #expect(named.tensor.dtype == .float32 && want.dtype == "float32", "\(key)")
            #expect(crc(named.tensor) == want.crc32c, "\(key): bytes differ from tf.train.load_checkpoint's")
            #expect(named.tensor.doubles().first == want.first, "\(key)")
        }
    }

    @Test func tf1SaverCheckpointSetsAsideAdamSlotsAndCounters() throws {
        let expected = try #require(expectedCheckpoints["tf1/model.ckpt-1000"])
        let bundle = try TensorFlowCheckpointReader.read(path: tensorflowFixture("tf1/model.ckpt-1000"))
        let names = bundle.tensors.map(\.name)
        #expect(
            names == [
                "conv1/biases", "conv1/weights", "conv2/biases", "conv2/weights", "conv3/biases", "conv3/weights",
                "conv4/biases", "conv4/weights", "conv5/biases", "conv5/weights", "fc6/biases", "fc6/weights",
                "fc7/biases", "fc7/weights", "fc8/biases", "fc8/weights",
            ])
        // Everything TensorFlow lists is either a weight or named in a note.
        let notes = bundle.notes.joined(separator: "\n")
        for key in expected.keys where !names.contains(key) {
            #expect(notes.contains(key) || notes.contains("more)"), "\(key) is neither read nor listed as set aside")
        }
        #expect(notes.contains("set aside 32 optimizer slots"))
        #expect(notes.contains("conv1/weights/Adam_1"))
        #expect(notes.contains("beta1_power") && notes.contains("global_step"))
        #expect(bundle.format.contains("TF1"))
        #expect(bundle.spec == nil)
    }

    @Test func partitionedVariableIsAssembledFromItsSlices() throws {
        let plain = try TensorFlowCheckpointReader.read(path: tensorflowFixture("tf1/model.ckpt-1000"))
        let files = try TensorBundleFiles(prefix: tensorflowFixture("tf1_partitioned/model.ckpt"))
        let fc6 = try #require(files.index.entries.first { $0.name == "fc6/weights" })
        #expect(fc6.proto.slices.count == 3)
        #expect(files.index.slices.count == 3)
        let partitioned = try TensorFlowCheckpointReader.read(path: tensorflowFixture("tf1_partitioned/model.ckpt"))
        #expect(partitioned.tensors.count == plain.tensors.count)
        for named in plain.tensors {
            let other = try #require(partitioned[named.name])
            #expect(other.bitwiseEqual(named.tensor), "\(named.name)")
        }
    }

    @Test func tf2SequentialNamesComeFromTheObjectGraph() throws {
        let bundle = try TensorFlowCheckpointReader.read(path: tensorflowFixture("tf2_sequential/alexnet"))
        #expect(bundle.format.contains("TF2"))
        let hints = try #require(bundle.layerHints)
        #expect(hints.map(\.name) == (0...12).map { "layer_with_weights-\($0)" })
        #expect(hints.map(\.kind) == [.conv, .batchNorm, .conv, .batchNorm, .conv, .batchNorm, .conv, .batchNorm, .conv, .batchNorm, .dense, .dense, .dense])
        #expect(
            hints[1].tensorNames == [
                "layer_with_weights-1/gamma", "layer_with_weights-1/beta",
                "layer_with_weights-1/moving_mean", "layer_with_weights-1/moving_variance",
            ])
        let notes = bundle.notes.joined(separator: "\n")
        #expect(notes.contains("optimizer slots") && notes.contains("optimizer/_variables/1/.ATTRIBUTES/VARIABLE_VALUE"))
        #expect(notes.contains("optimizer/_iterations"))
        #expect(!bundle.tensors.contains { $0.name.hasPrefix("optimizer") })
    }

    @Test func tf2SubclassKeepsTheModelsAttributeOrder() throws {
        let bundle = try TensorFlowCheckpointReader.read(path: tensorflowFixture("tf2_subclass/alexnet"))
        let hints = try #require(bundle.layerHints)
        #expect(hints.map(\.name) == ["conv1", "conv2", "middle_layers/0", "middle_layers/1", "middle_layers/2", "fc6", "fc7", "fc8"])
        #expect(hints.allSatisfy { $0.tensorNames.count == 2 && $0.tensorNames[0].hasSuffix("/kernel") })
    }

    @Test func savedModelUsesItsKerasConfig() throws {
        let bundle = try TensorFlowCheckpointReader.read(path: tensorflowFixture("savedmodel"))
        #expect(bundle.format.contains("SavedModel"))
        let spec = try #require(bundle.spec)
        #expect(spec.batchNorms.count == 5)
        #expect(spec.batchNorms.allSatisfy { $0.epsilon == 1e-5 })
        #expect(spec.name == "custom")
        #expect(spec.convs.map(\.padding) == [[0, 0, 0, 0], [2, 2, 2, 2], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]])
        #expect(spec.endsInSoftmax)
        let hints = try #require(bundle.layerHints)
        #expect(hints.count == 13)
        #expect(hints[0].tensorNames == ["layer_with_weights-0/kernel", "layer_with_weights-0/bias"])
        #expect(bundle.metadata["keras_version"] == "2.21.0")
    }

    // MARK: What a user may pass

    @Test func everySpellingOfTheInputReadsTheSameCheckpoint() throws {
        let reference = try TensorFlowCheckpointReader.read(path: tensorflowFixture("tf1/model.ckpt-1000")).tensors.map(\.name)
        for path in ["tf1/model.ckpt-1000.index", "tf1/model.ckpt-1000.data-00000-of-00001", "tf1", "tf1/", "tf1/checkpoint"] {
            let bundle = try TensorFlowCheckpointReader.read(path: tensorflowFixture(path))
            #expect(bundle.tensors.map(\.name) == reference, "\(path)")
        }
        let fromDirectory = try TensorFlowCheckpointReader.read(path: tensorflowFixture("tf1"))
        #expect(fromDirectory.notes.contains { $0.contains("model_checkpoint_path \"model.ckpt-1000\"") })
    }

    @Test func claimsPrefixesAndDirectoriesButNotOtherPaths() {
        #expect(TensorFlowCheckpointReader.claims(path: tensorflowFixture("tf1/model.ckpt-1000"), isDirectory: false))
        #expect(TensorFlowCheckpointReader.claims(path: tensorflowFixture("tf1"), isDirectory: true))
        #expect(TensorFlowCheckpointReader.claims(path: tensorflowFixture("savedmodel"), isDirectory: true))
        #expect(!TensorFlowCheckpointReader.claims(path: tensorflowFixture("tf1/model.ckpt-999"), isDirectory: false))
        #expect(!TensorFlowCheckpointReader.claims(path: FixturePaths.path("keras"), isDirectory: true))
        #expect(CheckpointLocation.prefix(ofBundleFile: "/a/b.ckpt.data-00003-of-00010") == "/a/b.ckpt")
        #expect(CheckpointLocation.prefix(ofBundleFile: "/a/b.index") == "/a/b")
        #expect(CheckpointLocation.prefix(ofBundleFile: "/a/b.data-1-of-2") == nil)
    }

    @Test func movedFolderWithAbsolutePathsInTheStateFile() throws {
        let directory = FixturePaths.temporaryDirectory("tf-moved")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for file in ["model.ckpt-1000.index", "model.ckpt-1000.data-00000-of-00001"] {
            try FileManager.default.copyItem(atPath: tensorflowFixture("tf1/" + file), toPath: directory + "/" + file)
        }
        try "model_checkpoint_path: \"/nowhere/train/model.ckpt-1000\"\nall_model_checkpoint_paths: \"/nowhere/train/model.ckpt-1000\"\n"
            .write(toFile: directory + "/checkpoint", atomically: true, encoding: .utf8)
        let bundle = try TensorFlowCheckpointReader.read(path: directory)
        #expect(bundle.tensors.count == 16)
        #expect(bundle.notes.contains { $0.contains("/nowhere/train/model.ckpt-1000, which does not exist") })
    }

    @Test func checkpointStateTextFormat() throws {
        let fields = try CheckpointState.parse("model_checkpoint_path: \"a\\\"b\\\\c\\101\"\nall_model_checkpoint_timestamps: 1.5e9\n", file: "checkpoint")
        #expect(fields.map(\.key) == ["model_checkpoint_path", "all_model_checkpoint_timestamps"])
        #expect(fields[0].value == "a\"b\\cA")
        #expect(fields[1].value == "1.5e9")
        let written = CheckpointState.text(naming: "x\"y")
        #expect(try CheckpointState.parse(written, file: "checkpoint").first?.value == "x\"y")
    }
}

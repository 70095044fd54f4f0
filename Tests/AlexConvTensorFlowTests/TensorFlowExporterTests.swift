import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvTensorFlow

/// Exports `model` as a checkpoint with `naming` into a new directory; returns the prefix.
func exportCheckpoint(_ model: Model, naming: String? = nil, dtype: DType? = nil, label: String = "tf-export") throws -> String {
    let prefix = FixturePaths.temporaryDirectory(label) + "/model.ckpt"
    try TensorFlowCheckpointExporter.export(model, format: "tf-checkpoint", to: prefix, options: ExportOptions(naming: naming, dtype: dtype))
    return prefix
}

func expectSameTensors(_ a: Model, _ b: Model, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.tensors.map(\.name) == b.tensors.map(\.name), "\(label)", sourceLocation: sourceLocation)
    for (x, y) in zip(a.tensors, b.tensors) {
        #expect(x.tensor.bitwiseEqual(y.tensor), "\(label): \(x.name) differs", sourceLocation: sourceLocation)
    }
}

@Suite struct TensorFlowExporterTests {
    @Test func tf1NamingRoundTripsBitExactly() throws {
        let model = TinyModels.model(Presets.caffeNet, seed: 21)
        let prefix = try exportCheckpoint(model)
        defer { try? FileManager.default.removeItem(atPath: (prefix as NSString).deletingLastPathComponent) }
        let bundle = try TensorFlowCheckpointReader.read(path: prefix)
        #expect(
            bundle.tensors.map(\.name) == [
                "conv1/biases", "conv1/weights", "conv2/biases", "conv2/weights", "conv3/biases", "conv3/weights",
                "conv4/biases", "conv4/weights", "conv5/biases", "conv5/weights", "fc6/biases", "fc6/weights",
                "fc7/biases", "fc7/weights", "fc8/biases", "fc8/weights",
            ])
        #expect(bundle["conv2/weights"]?.shape == [5, 5, 4, 16])  // HWIO, two towers as seed 002 keeps them
        #expect(bundle["fc6/weights"]?.shape == [576, 32])  // (in, out), rows in (H, W, C) order
        let back = try Recognizer.recognize(bundle, choice: .preset(Presets.caffeNet)).model
        expectSameTensors(model, back, "tf1 round trip")
    }

    @Test(arguments: [Presets.kerasBN, Presets.keras2048, Presets.caffeNet])
    func kerasNamingRoundTripsThroughItsObjectGraph(preset: Preset) throws {
        let model = TinyModels.model(preset, seed: 22)
        let prefix = try exportCheckpoint(model, naming: "keras")
        defer { try? FileManager.default.removeItem(atPath: (prefix as NSString).deletingLastPathComponent) }
        let bundle = try TensorFlowCheckpointReader.read(path: prefix)
        #expect(bundle.format.contains("TF2"))
        #expect(bundle.tensors.first?.name == "layer_with_weights-0/kernel")
        let hints = try #require(bundle.layerHints)
        #expect(hints.count == model.spec.convs.count + model.spec.batchNorms.count + model.spec.denses.count)
        let back = try Recognizer.recognize(bundle, choice: .preset(preset)).model
        expectSameTensors(model, back, "keras naming, \(preset.name)")
    }

    @Test func writesIndexDataAndStateFileTogether() throws {
        let model = TinyModels.model(Presets.caffeNet, seed: 23)
        let prefix = try exportCheckpoint(model)
        let directory = (prefix as NSString).deletingLastPathComponent
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(files == ["checkpoint", "model.ckpt.data-00000-of-00001", "model.ckpt.index"])
        #expect(
            TensorFlowCheckpointExporter.outputFiles(for: "tf-checkpoint", path: prefix)
                == [prefix + ".index", prefix + ".data-00000-of-00001", directory + "/checkpoint"])
        let state = try String(contentsOfFile: directory + "/checkpoint", encoding: .utf8)
        #expect(state == "model_checkpoint_path: \"model.ckpt\"\nall_model_checkpoint_paths: \"model.ckpt\"\n")
        // The directory reads through its state file.
        #expect(try TensorFlowCheckpointReader.read(path: directory).tensors.count == 16)
        // The data file is the tensors back to back: its size is the model's float32 bytes.
        let dataSize = try FileManager.default.attributesOfItem(atPath: prefix + ".data-00000-of-00001")[.size] as? Int
        #expect(dataSize == model.tensors.reduce(0) { $0 + $1.tensor.count * 4 })
    }

    @Test func aFailedWriteLeavesNoFileBehind() throws {
        let model = TinyModels.model(Presets.caffeNet, seed: 24)
        let directory = FixturePaths.temporaryDirectory("tf-fail")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: IOError.self) {
            try AtomicFileWriter.$injectedFailureAfterBytes.withValue(1000) {
                try TensorFlowCheckpointExporter.export(model, format: "tf-checkpoint", to: directory + "/m", options: ExportOptions())
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    @Test func halfPrecisionIsStoredAsDTHalf() throws {
        let model = TinyModels.model(Presets.caffeNet, seed: 25)
        let prefix = try exportCheckpoint(model, dtype: .float16)
        defer { try? FileManager.default.removeItem(atPath: (prefix as NSString).deletingLastPathComponent) }
        let files = try TensorBundleFiles(prefix: prefix)
        #expect(files.index.entries.allSatisfy { $0.proto.dtype == .dtHalf })
        let bundle = try TensorFlowCheckpointReader.read(path: prefix)
        let conv1 = try #require(bundle["conv1/weights"])
        #expect(conv1.dtype == .float16)
        let expected = LayoutRules.oihwToHwio(try model.tensor("conv1.weight")).contiguous(as: .float16)
        #expect(conv1.bitwiseEqual(expected))
    }

    @Test func namingsAreChecked() throws {
        let model = TinyModels.model(Presets.caffeNet, seed: 26)
        #expect(TensorFlowCheckpointExporter.namings(for: "tf-checkpoint") == ["tf1", "keras"])
        #expect(throws: UsageError.self) { _ = try exportCheckpoint(model, naming: "torchvision") }
        #expect(throws: UsageError.self) { _ = try exportCheckpoint(model, dtype: .int8) }
    }

    // MARK: The table itself

    @Test func tablesOfManyBlocksReadBackInOrder() throws {
        var builder = LevelDBTableBuilder()
        var expected: [([UInt8], [UInt8])] = []
        for i in 0..<6000 {
            let key = Array(String(format: "layer_%05d/some/long/variable/path/kernel", i).utf8)
            let value = [UInt8](repeating: UInt8(i & 0xFF), count: 40 + i % 50)
            builder.add(key: key, value: value)
            expected.append((key, value))
        }
        let bytes = builder.finish()
        let table = try bytes.withUnsafeBytes { try LevelDBTable(bytes: $0, file: "many.index").entries.map { ($0.key, Array($0.value)) } }
        #expect(table.count == expected.count)
        #expect(zip(table, expected).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 })
        #expect(bytes.count > 2 * LevelDBTableBuilder.blockBytes)  // several data blocks
    }

    @Test func sliceKeysAreTensorFlowsOrderedCodes() throws {
        // EncodeTensorNameSlice("fc6/weights", [0:192, 0:32]): the key TensorFlow 2.21 filed the first slice under.
        let key = SliceKey.key(name: "fc6/weights", extents: [(0, 192), (0, 32)])
        #expect(key == [0x00] + Array("fc6/weights".utf8) + [0x00, 0x01, 0x01, 0x02, 0x80, 0xC0, 0xC0, 0x80, 0xA0])
        let files = try TensorBundleFiles(prefix: tensorflowFixture("tf1_partitioned/model.ckpt"))
        #expect(files.index.slices[key] != nil)
        #expect(files.index.slices[SliceKey.key(name: "fc6/weights", extents: [(384, 192), (0, 32)])] != nil)
        // A full extent (no length) is start 0, length -1.
        #expect(SliceKey.key(name: "a", extents: [(0, nil)]).suffix(2) == [0x80, 0x7F])
        var out: [UInt8] = []
        SliceKey.writeSignedNumIncreasing(0x424242, into: &out)
        #expect(out == [0xF0, 0x42, 0x42, 0x42])  // ordered_code.cc's example 1
        out = []
        SliceKey.writeSignedNumIncreasing(-0x800, into: &out)
        #expect(out == [0x38, 0x00])  // example 2
    }
}

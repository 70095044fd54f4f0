import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvONNX

/// Bad input: clear errors naming the file, the node or the initializer; never a crash.
@Suite struct ONNXErrorTests {
    static let fixture = FixturePaths.path("onnx/torchvision_tiny.onnx")

    func fixtureBytes(_ name: String = "torchvision_tiny") throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("onnx/\(name).onnx"))))
    }

    func fixtureProto(_ name: String = "torchvision_tiny") throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: try fixtureBytes(name))
    }

    /// Reads `proto` through the public reader (serialized to bytes first).
    func readError(_ proto: Onnx_ModelProto) throws -> String {
        let bytes: [UInt8] = try proto.serializedBytes()
        return errorText { _ = try bytes.withUnsafeBytes { try ONNXReader.read(bytes: $0, path: "bad.onnx") } }
    }

    @Test func truncatedFilesAreFormatErrors() throws {
        let bytes = try fixtureBytes()
        let directory = FixturePaths.temporaryDirectory("onnx-truncated")
        // Cut points across the header, the initializers and the nodes.
        for cut in [1, 2, 5, 17, 100, 1000, bytes.count / 3, bytes.count / 2, bytes.count - 200, bytes.count - 1] {
            let path = directory + "/cut\(cut).onnx"
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes.prefix(cut)))
            do {
                _ = try ONNXReader.read(path: path)
                Issue.record("cut at \(cut) was accepted")
            } catch let error as FormatError {
                #expect(error.file == path)
            } catch {
                Issue.record("cut at \(cut): unexpected \(type(of: error)): \(error)")
            }
        }
        let message = errorText { _ = try ONNXReader.read(path: directory + "/cut\(bytes.count / 2).onnx") }
        #expect(message.contains("truncated") || message.contains("malformed"))
    }

    @Test func garbageAndEmptyFiles() throws {
        let directory = FixturePaths.temporaryDirectory("onnx-garbage")
        _ = FileManager.default.createFile(atPath: directory + "/empty.onnx", contents: Data())
        #expect(errorText { _ = try ONNXReader.read(path: directory + "/empty.onnx") }.contains("empty"))
        var state: UInt32 = 12345
        let noise = (0..<5000).map { _ -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(state >> 24)
        }
        _ = FileManager.default.createFile(atPath: directory + "/noise.onnx", contents: Data(noise))
        #expect(errorText { _ = try ONNXReader.read(path: directory + "/noise.onnx") }.contains("noise.onnx"))
        // Every single-byte corruption of the header region is an error or a valid read, never a crash.
        let bytes = try fixtureBytes("zoo_tiny")
        for position in stride(from: 0, to: 400, by: 7) {
            var copy = bytes
            copy[position] ^= 0xff
            _ = try? copy.withUnsafeBytes { try ONNXReader.read(bytes: $0) }
        }
    }

    @Test func initializerSizeMustMatchDims() throws {
        var proto = try fixtureProto()
        proto.graph.initializer[0].rawData.removeLast(4)
        let message = try readError(proto)
        #expect(message.contains("features.0.weight"))
        #expect(message.contains("11612 bytes") && message.contains("11616"))

        var zoo = try fixtureProto("zoo_tiny")
        zoo.graph.initializer[0].floatData.removeLast()
        let zooMessage = try readError(zoo)
        #expect(zooMessage.contains("conv1_w_0") && zooMessage.contains("float_data"))

        var negative = try fixtureProto()
        negative.graph.initializer[1].dims = [-8]
        #expect(try readError(negative).contains("negative"))

        var huge = try fixtureProto()
        huge.graph.initializer[0].dims = [Int64.max / 2, 4, 4]
        #expect(try readError(huge).contains("overflows"))
    }

    @Test func unknownOperatorNamesNodeAndOp() throws {
        var proto = try fixtureProto()
        let index = try #require(proto.graph.node.firstIndex { $0.opType == "Relu" })
        proto.graph.node[index].opType = "Tanh"
        let message = try readError(proto)
        #expect(message.contains("Tanh"))
        #expect(message.contains(proto.graph.node[index].name))
        #expect(message.contains("unsupported operator"))

        var custom = try fixtureProto()
        custom.graph.node[index].domain = "com.example"
        #expect(try readError(custom).contains("com.example"))
    }

    @Test func externalDataIsRefusedClearly() throws {
        var proto = try fixtureProto()
        proto.graph.initializer[0].clearRawData()
        proto.graph.initializer[0].dataLocation = .external
        var location = Onnx_StringStringEntryProto()
        location.key = "location"
        location.value = "weights.bin"
        proto.graph.initializer[0].externalData = [location]
        let message = try readError(proto)
        #expect(message.contains("external") && message.contains("weights.bin") && message.contains("features.0.weight"))
    }

    @Test func graphShapeProblems() throws {
        // Branch: a second consumer of conv1's output.
        var branch = try fixtureProto()
        var extra = branch.graph.node[1]
        extra.name = "second_relu"
        extra.output = ["second_relu_out"]
        branch.graph.node.insert(extra, at: 3)
        #expect(try readError(branch).contains("branches"))

        // Weight not stored in the file.
        var missing = try fixtureProto()
        missing.graph.initializer.removeAll { $0.name == "features.3.weight" }
        #expect(try readError(missing).contains("features.3.weight"))

        // No fixed input size.
        var dynamic = try fixtureProto()
        dynamic.graph.input[0].type.tensorType.shape.dim[2].dimParam = "H"
        #expect(try readError(dynamic).contains("'H'"))

        // Output not reached by the chain.
        var cut = try fixtureProto()
        cut.graph.node.removeLast()
        #expect(try readError(cut).contains("not a graph output"))

        // Weight shape that does not take the channels.
        var wrong = try fixtureProto()
        let w = try #require(wrong.graph.initializer.firstIndex { $0.name == "features.3.weight" })
        wrong.graph.initializer[w].dims = [16, 4, 5, 5]
        wrong.graph.initializer[w].rawData = Data(count: 16 * 4 * 25 * 4)
        #expect(try readError(wrong).contains("does not take 8 input channels"))

        // No opset.
        var noOpset = try fixtureProto()
        noOpset.opsetImport = []
        #expect(try readError(noOpset).contains("opset"))
    }

    @Test func metadataSpecThatDisagreesIsNotTrusted() throws {
        let model = try TinyModels.model(Presets.half)
        var proto = try ONNXExporter.modelProto(model, options: ExportOptions())
        let other = Presets.torchvision.spec(convWidths: [4, 8, 8, 8, 8], fcWidths: [16, 16], classes: 3)
        proto.metadataProps = [ONNXExporter.entry(CanonicalFile.specKey, other.json())]
        let bytes: [UInt8] = try proto.serializedBytes()
        let bundle = try bytes.withUnsafeBytes { try ONNXReader.read(bytes: $0) }
        #expect(bundle.spec?.name == "custom")
        #expect(bundle.notes.contains { $0.contains("does not describe") })
    }
}

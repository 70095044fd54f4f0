import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvONNX

@Suite struct ONNXExportTests {
    @Test(arguments: Presets.all.map(\.name))
    func roundTripIsBitExact(_ presetName: String) throws {
        let preset = try #require(Presets.named(presetName))
        let original = try TinyModels.model(preset)
        let directory = FixturePaths.temporaryDirectory("onnx-export")
        let path = directory + "/\(presetName).onnx"
        try ONNXExporter.export(original, format: "onnx", to: path, options: ExportOptions())
        let bundle = try ONNXReader.read(path: path)
        let imported = try model(from: bundle)
        // The spec comes back from metadata_props, preprocessing included.
        #expect(imported.spec == original.spec)
        expectSameTensors(imported.tensors, original.tensors)
        #expect(bundle.notes.contains { $0.contains("metadata_props") })
        #expect(!bundle.notes.contains { $0.contains("assumed") })
        #expect(bundle.metadata["alexconv.source"] == original.source)
    }

    @Test func graphShape() throws {
        let model = try TinyModels.model(Presets.caffeAlexNet)
        let proto = try ONNXExporter.modelProto(model, options: ExportOptions())
        #expect(proto.irVersion == 7)
        #expect(proto.opsetImport.map(\.version) == [13])
        let graph = proto.graph
        #expect(graph.input.map(\.name) == ["data"])
        let dims = graph.input[0].type.tensorType.shape.dim
        #expect(dims[0].dimParam == "N")
        #expect(dims.dropFirst().map(\.dimValue) == [3, 227, 227])
        #expect(graph.output.map(\.name) == ["output"])
        #expect(
            graph.node.map(\.opType) == [
                "Conv", "Relu", "LRN", "MaxPool", "Conv", "Relu", "LRN", "MaxPool", "Conv", "Relu", "Conv", "Relu",
                "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax",
            ])
        let conv2 = try #require(graph.node.first { $0.name == "conv2" })
        #expect(conv2.attribute.first { $0.name == "group" }?.i == 2)
        let gemm = try #require(graph.node.first { $0.opType == "Gemm" })
        #expect(gemm.attribute.first { $0.name == "transB" }?.i == 1)
        let lrn = try #require(graph.node.first { $0.opType == "LRN" })
        #expect(lrn.attribute.first { $0.name == "alpha" }?.f == Float(1e-4))
        #expect(lrn.attribute.first { $0.name == "size" }?.i == 5)
        #expect(graph.node.last?.output == ["output"])
        #expect(proto.metadataProps.contains { $0.key == "alexconv.spec" && $0.value == model.spec.json() })
    }

    @Test func adaptivePoolingIsIdentityGlobalOrEvenAveragePool() throws {
        // torchvision at 224: the 6x6 adaptive pool sees a 6x6 map: no node.
        let torchvision = try ONNXExporter.modelProto(try TinyModels.model(Presets.torchvision), options: ExportOptions())
        #expect(!torchvision.graph.node.contains { $0.opType.contains("AveragePool") })

        var spec = Presets.torchvision.spec(convWidths: TinyModels.convWidths, fcWidths: TinyModels.fcWidths, classes: 10)
        let index = try #require(spec.layers.firstIndex { $0.typeName == "adaptiveavgpool" })
        spec.layers[index] = .adaptiveAvgPool([1, 1])
        let global = try ONNXExporter.modelProto(try TinyModels.model(spec), options: ExportOptions())
        #expect(global.graph.node.contains { $0.opType == "GlobalAveragePool" })

        spec.layers[index] = .adaptiveAvgPool([3, 3])
        let even = try ONNXExporter.modelProto(try TinyModels.model(spec), options: ExportOptions())
        let pool = try #require(even.graph.node.first { $0.opType == "AveragePool" })
        #expect(pool.attribute.first { $0.name == "kernel_shape" }?.ints == [2, 2])

        // Uneven windows (6 -> 4: [0,2) [1,3) [3,5) [4,6)): two MatMuls by PyTorch's averaging matrices.
        spec.layers[index] = .adaptiveAvgPool([4, 4])
        let unevenModel = try TinyModels.model(spec)
        var uneven = try ONNXExporter.modelProto(unevenModel, options: ExportOptions())
        #expect(uneven.graph.node.filter { $0.opType == "MatMul" }.count == 2)
        uneven.metadataProps = []
        let bytes: [UInt8] = try uneven.serializedBytes()
        let back = try model(from: try bytes.withUnsafeBytes { try ONNXReader.read(bytes: $0) })
        #expect(back.spec.layers.contains(.adaptiveAvgPool([4, 4])))
        let input: [Float] = (0..<(3 * 224 * 224)).map { (i: Int) -> Float in Float((i * 7919) % 1000) / 500 - 1 }
        let a = try ReferenceForward.run(back, input: input)
        let b = try ReferenceForward.run(unevenModel, input: input)
        #expect(a == b)
    }

    @Test func exportedGraphsComputeWhatTheSpecSays() throws {
        // Export, import, run the reference forward on both: identical (the graph says the same thing).
        for preset in [Presets.caffeNet, Presets.kerasBN, Presets.alexnet8] {
            let original = try TinyModels.model(preset)
            let bytes = try ONNXExporter.serialize(original)
            // Drop the recorded spec: the graph alone must describe the same computation.
            var proto = try Onnx_ModelProto(serializedBytes: bytes)
            proto.metadataProps.removeAll { $0.key == CanonicalFile.specKey }
            let stripped = try proto.serializedBytes() as [UInt8]
            let bundle = try stripped.withUnsafeBytes { try ONNXReader.read(bytes: $0, path: "\(preset.name).onnx") }
            let fromGraph = try model(from: bundle)
            var layers = original.spec.layers
            layers.removeAll { if case .dropout = $0 { return true } else { return false } }
            #expect(fromGraph.spec.layers == layers, "\(preset.name)")
            expectSameTensors(fromGraph.tensors, original.tensors)
            let input: [Float] = (0..<(3 * original.spec.input.height * original.spec.input.width)).map { (i: Int) -> Float in Float((i * 7919) % 1000) / 500 - 1 }
            #expect(try ReferenceForward.run(fromGraph, input: input) == ReferenceForward.run(original, input: input))
        }
    }

    @Test func reimportOfATorchExportIsBitExact() throws {
        let first = try model(from: try ONNXReader.read(path: FixturePaths.path("onnx/torchvision_tiny.onnx")))
        let path = FixturePaths.temporaryDirectory("onnx-reexport") + "/again.onnx"
        try ONNXExporter.export(first, format: "onnx", to: path, options: ExportOptions())
        let second = try model(from: try ONNXReader.read(path: path))
        #expect(second.spec == first.spec)
        expectSameTensors(second.tensors, first.tensors)
    }

    @Test func refusesWhatItCannotWrite() throws {
        let model = try TinyModels.model(Presets.half)
        let directory = FixturePaths.temporaryDirectory("onnx-refuse")
        let text = errorText { try ONNXExporter.export(model, format: "onnx", to: directory + "/a.onnx", options: ExportOptions(dtype: .float16)) }
        #expect(text.contains("float32"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/a.onnx"))
        // Existing file, overwrite off: untouched.
        _ = FileManager.default.createFile(atPath: directory + "/b.onnx", contents: Data("keep".utf8))
        _ = errorText { try ONNXExporter.export(model, format: "onnx", to: directory + "/b.onnx", options: ExportOptions(overwrite: false)) }
        #expect(FileManager.default.contents(atPath: directory + "/b.onnx") == Data("keep".utf8))
        // A model whose tensors do not fit its spec.
        var broken = model
        broken.tensors.removeLast()
        #expect(errorText { _ = try ONNXExporter.serialize(broken) }.contains("missing"))
    }
}

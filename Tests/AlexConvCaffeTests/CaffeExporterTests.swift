import AlexConv
import Foundation
import SwiftProtobuf
import TestSupport
import Testing

@testable import AlexConvCaffe

@Suite("Caffe writer: caffemodel + deploy prototxt")
struct CaffeExporterTests {
    static func export(_ model: Model, options: ExportOptions = ExportOptions()) throws -> String {
        let path = FixturePaths.temporaryDirectory("caffe-export") + "/\(model.spec.name).caffemodel"
        try CaffeExporter.export(model, format: "caffemodel", to: path, options: options)
        return path
    }

    @Test("every preset: written BGR, read back with its prototxt as the same model, tensors bit-exact", arguments: Presets.all.map(\.name))
    func roundTrip(_ name: String) throws {
        let preset = try #require(Presets.named(name))
        let original = try TinyModels.model(preset).withChannelOrder(.bgr)
        let path = try Self.export(original)
        #expect(FileManager.default.fileExists(atPath: CaffeExporter.prototxtPath(for: path)))
        let bundle = try CaffeReader.read(path: path)
        #expect(bundle.notes.contains { $0.contains("\(name).prototxt (found beside the model)") })
        let back = try Recognizer.recognize(bundle).model
        #expect(back.spec == original.spec)
        expectBitExact(back.tensors, original.tensors)
    }

    @Test("the caffemodel alone describes the same layers (the Input layer, transform_param for Caffe's conventions)", arguments: ["caffe-alexnet", "caffenet", "keras-bn", "alexnet8"])
    func caffemodelAlone(_ name: String) throws {
        let original = try TinyModels.model(try #require(Presets.named(name))).withChannelOrder(.bgr)
        let path = try Self.export(original)
        try FileManager.default.removeItem(atPath: CaffeExporter.prototxtPath(for: path))
        let back = try Recognizer.recognize(try CaffeReader.read(path: path)).model
        #expect(back.spec.layers == original.spec.layers)
        #expect(back.spec.name == name)
        if name.hasPrefix("caffe") { #expect(back.spec.input == original.spec.input) }
        expectBitExact(back.tensors, original.tensors)
    }

    @Test("the prototxt is a deploy net TextFormat decodes: spec comment, Input layer, groups, in-place ReLU, Softmax 'prob'")
    func prototxtShape() throws {
        let path = try Self.export(TinyModels.model(Presets.caffeAlexNet))
        let text = try String(contentsOfFile: CaffeExporter.prototxtPath(for: path), encoding: .utf8)
        #expect(text.components(separatedBy: "\n")[1].hasPrefix("# alexconv.spec: {"))
        let net = try Caffe_NetParameter(textFormatString: text)
        #expect(net.layer.first?.type == "Input")
        #expect(net.layer.first?.inputParam.shape.first?.dim == [1, 3, 227, 227])
        #expect(net.layer.filter { $0.type == "Convolution" }.map(\.convolutionParam.group) == [1, 2, 1, 2, 2])
        #expect(net.layer.filter { $0.type == "ReLU" }.allSatisfy { $0.bottom == $0.top })
        #expect(net.layer.last?.type == "Softmax" && net.layer.last?.name == "prob")
        #expect(net.layer.allSatisfy { $0.blobs.isEmpty })
        // The binary net holds the same layers with blobs.
        let storage = try ByteStorage.map(path: path)
        let file = try CaffeNetFile.read(storage, file: path)
        #expect(file.net.layer.map(\.name) == net.layer.map(\.name))
        #expect(file.layerBlobs.map(\.count) == net.layer.map { ["Convolution", "InnerProduct"].contains($0.type) ? 2 : 0 })
    }

    @Test("--dtype float64 writes double_data, read back exactly; other dtypes are refused")
    func dtypes() throws {
        let original = TinyModels.model(Presets.caffeNet)
        let path = try Self.export(original, options: ExportOptions(dtype: .float64))
        let back = try Recognizer.recognize(try CaffeReader.read(path: path)).model
        #expect(back.tensors.allSatisfy { $0.tensor.dtype == .float64 })
        #expect(back.tensors.map { $0.tensor.floats() } == original.tensors.map { $0.tensor.floats() })
        #expect(throws: UsageError.self) { try Self.export(original, options: ExportOptions(dtype: .float16)) }
    }

    @Test("what Caffe cannot express is refused with the layer named")
    func refusals() throws {
        var model = TinyModels.model(Presets.caffeAlexNet)
        guard case .conv(var c) = model.spec.layers[0] else {
            Issue.record("no conv")
            return
        }
        c.padding = [0, 0, 1, 1]
        model.spec.layers[0] = .conv(c)
        var text = refusal { _ = try CaffeNetPlan(model: model) }
        #expect(text.contains("layer 1 (conv)") && text.contains("padding [0, 0, 1, 1]"), "\(text)")

        model = TinyModels.model(Presets.caffeAlexNet)
        model.spec.layers[2] = .lrn(LRNSpec(size: 4, alpha: 1e-4, beta: 0.75, k: 1))
        text = refusal { _ = try CaffeNetPlan(model: model) }
        #expect(text.contains("size 4 is even"), "\(text)")
    }

    /// The description of the `ModelError` `body` throws ("" and a recorded issue otherwise).
    func refusal(_ body: () throws -> Void) -> String {
        do {
            try body()
            Issue.record("expected a ModelError")
        } catch let error as ModelError {
            return error.description
        } catch {
            Issue.record("expected a ModelError, got \(error)")
        }
        return ""
    }

    @Test("both files appear together or not at all")
    func atomic() throws {
        let model = TinyModels.model(Presets.caffeNet)
        let directory = FixturePaths.temporaryDirectory("caffe-atomic")
        let path = directory + "/m.caffemodel"
        #expect(throws: IOError.self) {
            try AtomicFileWriter.$injectedFailureAfterBytes.withValue(10_000) {
                try CaffeExporter.export(model, format: "caffemodel", to: path, options: ExportOptions())
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    @Test("export protects the prototxt it would write and the companions it read")
    func protection() throws {
        let model = TinyModels.model(Presets.caffeNet)
        let directory = FixturePaths.temporaryDirectory("caffe-protect")
        let existing = directory + "/out.prototxt"
        try "keep".write(toFile: existing, atomically: true, encoding: .utf8)
        var request = ExportRequest(format: "caffemodel", output: directory + "/out.caffemodel")
        #expect(throws: UsageError.self) { try Conversion.export(model, inputPath: directory + "/in.npy", request: request) }
        request.force = true
        request.protectedInputs = [existing]
        #expect(throws: UsageError.self) { try Conversion.export(model, inputPath: directory + "/in.npy", request: request) }
        #expect(try String(contentsOfFile: existing, encoding: .utf8) == "keep")
        // The deploy.prototxt found beside a caffemodel counts as an input.
        #expect(
            CaffeReader.inputFiles(path: CaffeFixtures.model(CaffeFixtures.caffenet), options: ReaderOptions())
                == [CaffeFixtures.model(CaffeFixtures.caffenet), FixturePaths.path("caffe/caffenet/deploy.prototxt")])
    }
}

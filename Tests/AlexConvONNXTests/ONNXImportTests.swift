import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvONNX

/// Imports the committed fixtures (written by torch.onnx.export and onnx.helper, run by onnxruntime).
@Suite struct ONNXImportTests {
    static let fixtures = ["torchvision_tiny", "kerasbn_tiny", "zoo_tiny"]

    func read(_ name: String) throws -> TensorBundle {
        try ONNXReader.read(path: FixturePaths.path("onnx/\(name).onnx"))
    }

    func expectedTensors(_ name: String) throws -> [NamedTensor] {
        try Safetensors.read(path: FixturePaths.path("onnx/\(name)_expected.safetensors")).tensors
    }

    @Test(arguments: fixtures)
    func tensorsMatchTheSourceBitForBit(_ name: String) throws {
        let bundle = try read(name)
        #expect(bundle.layout == .channelsFirst)
        let expected = Dictionary(uniqueKeysWithValues: try expectedTensors(name).map { ($0.name, $0.tensor) })
        #expect(Set(bundle.tensors.map(\.name)) == Set(expected.keys))
        for t in bundle.tensors {
            let e = try #require(expected[t.name], "\(t.name) not expected")
            #expect(t.tensor.shape == e.shape, "\(t.name)")
            #expect(t.tensor.floats().map(\.bitPattern) == e.floats().map(\.bitPattern), "\(t.name)")
        }
        // Canonical order: the spec's.
        let spec = try #require(bundle.spec)
        #expect(bundle.tensors.map(\.name) == (try spec.expectedTensors().map(\.name)))
    }

    @Test(arguments: fixtures)
    func outputsMatchOnnxruntime(_ name: String) throws {
        let model = try model(from: try read(name))
        let input = try NpyFixture.decodedInput(name)
        let expected = try NpyFixture.read(FixturePaths.path("onnx/\(name)_output.npy"))
        let output = try ReferenceForward.run(model, input: input)
        #expect(output.count == expected.values.count)
        #expect(maxAbsDiff(output, expected.values) < 1e-5)
    }

    @Test func torchvisionExportBecomesTheTorchvisionChain() throws {
        let bundle = try read("torchvision_tiny")
        let spec = try #require(bundle.spec)
        #expect(spec.name == "custom")
        #expect(spec.input.height == 224 && spec.input.width == 224 && spec.input.channelOrder == .rgb)
        #expect(
            spec.layers.map(\.typeName) == [
                "conv", "relu", "maxpool", "conv", "relu", "maxpool", "conv", "relu", "conv", "relu", "conv", "relu", "maxpool",
                "avgpool", "flatten", "dense", "relu", "dense", "relu", "dense",
            ])
        #expect(spec.convs.map(\.outChannels) == [8, 16, 24, 24, 16])
        #expect(spec.convs[0].padding == [2, 2, 2, 2] && spec.convs[0].stride == [4, 4])
        #expect(spec.denses.map(\.name) == ["fc6", "fc7", "fc8"])
        #expect(bundle.metadata["onnx.producer"]?.hasPrefix("pytorch") == true)
        #expect(bundle.metadata["onnx.opset"] == "13")
        #expect(bundle.format.hasPrefix("onnx"))
        #expect(bundle.layerHints?.map(\.name) == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"])
    }

    @Test func kerasBNKeepsEpsilonAndSoftmax() throws {
        let spec = try #require(try read("kerasbn_tiny").spec)
        #expect(spec.batchNorms.map(\.name) == ["bn1", "bn2", "bn3", "bn4", "bn5"])
        #expect(spec.batchNorms.allSatisfy { $0.epsilon == 0.001 })
        #expect(spec.endsInSoftmax)
        #expect(spec.input.height == 227)
    }

    @Test func zooGraphKeepsGroupsLRNPaddingAndDropout() throws {
        let bundle = try read("zoo_tiny")
        let spec = try #require(bundle.spec)
        #expect(spec.convs.map(\.groups) == [1, 2, 1, 2, 2])
        #expect(spec.layers.contains(.lrn(LRNSpec(size: 5, alpha: 1e-4, beta: 0.75, k: 1))))
        let pools = spec.layers.compactMap { if case .maxPool(let p) = $0 { return p } else { return nil } }
        #expect(pools.map(\.padding) == [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]])
        #expect(spec.layers.filter { $0 == .dropout(0.5) }.count == 2)
        #expect(spec.endsInSoftmax)
        // Caffe-style graph: Caffe preprocessing assumed, and said so.
        #expect(spec.input.channelOrder == .bgr && spec.input.mean == [104, 117, 123])
        #expect(bundle.notes.contains { $0.contains("Caffe conventions") })
        #expect(bundle.notes.contains { $0.contains("fixes the batch size") })
        #expect(bundle.metadata["onnx.ir_version"] == "3")
    }

    @Test func detection() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("onnx/zoo_tiny.onnx")))
        let prefix = [UInt8](bytes.prefix(4096))
        prefix.withUnsafeBytes { #expect(ONNXReader.matches(path: "model.bin", prefix: $0)) }
        [UInt8]([0x93, 0x4e, 0x55, 0x4d]).withUnsafeBytes { #expect(!ONNXReader.matches(path: "w.npy", prefix: $0)) }
        [UInt8]([]).withUnsafeBytes { #expect(ONNXReader.matches(path: "x.ONNX", prefix: $0)) }
    }
}

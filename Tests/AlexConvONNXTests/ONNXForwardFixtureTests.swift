import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvONNX

/// The forward engineer's canonical fixtures (Fixtures/forward: every preset plus a chain of every
/// op variant, with PyTorch's outputs): export each as ONNX, drop the recorded spec, import the bare
/// graph, and check it is the same computation.
@Suite struct ONNXForwardFixtureTests {
    static let names: [String] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: FixturePaths.path("forward"))) ?? []
        return files.filter { $0.hasSuffix(".alexnet.safetensors") }.map { String($0.dropLast(".alexnet.safetensors".count)) }.sorted()
    }()

    /// Fixtures/forward/make_forward_fixtures.py det_input: a 32-bit hash of the flat index mapped
    /// to integers -1000...1000 times `step`.
    static func deterministicInput(count: Int, seed: UInt64, step: Float) -> [Float] {
        (0..<count).map { index in
            var x = (UInt64(index) &* 2_654_435_761 &+ seed) & 0xFFFF_FFFF
            x ^= x >> 15
            x = (x &* 2_246_822_519) & 0xFFFF_FFFF
            x ^= x >> 13
            return Float(Int64(x % 2001) - 1000) * step
        }
    }

    /// The layers an ONNX graph of `spec` imports as, and the dense layers' new names.
    static func bareGraphLayers(_ spec: ArchitectureSpec) throws -> ([LayerSpec], [String: String]) {
        let shapes = try spec.activationShapes()
        var previous = ActivationShape.map(channels: spec.input.channels, height: spec.input.height, width: spec.input.width)
        var layers: [LayerSpec] = []
        var renamed: [String: String] = [:]
        let convCount = spec.convs.count
        var denseCount = 0
        for (layer, shape) in zip(spec.layers, shapes) {
            defer { previous = shape }
            switch layer {
            case .dropout: continue
            case .adaptiveAvgPool where shape == previous: continue
            case .dense(var d):
                denseCount += 1
                renamed[d.name] = "fc\(convCount + denseCount)"
                d.name = "fc\(convCount + denseCount)"
                layers.append(.dense(d))
            default: layers.append(layer)
            }
        }
        return (layers, renamed)
    }

    @Test(arguments: names)
    func bareGraphIsTheSameComputation(_ name: String) throws {
        let original = try CanonicalFile.read(path: FixturePaths.path("forward/\(name).alexnet.safetensors"))
        var proto = try ONNXExporter.modelProto(original, options: ExportOptions())
        proto.metadataProps.removeAll { $0.key == CanonicalFile.specKey }
        let bytes: [UInt8] = try proto.serializedBytes()
        let imported = try model(from: try bytes.withUnsafeBytes { try ONNXReader.read(bytes: $0, path: "\(name).onnx") })

        // A bare graph carries no dropout and no identity adaptive pool; dense layers are named
        // fc(N+1)... after the N convs.
        let (expectedLayers, renamed) = try Self.bareGraphLayers(original.spec)
        #expect(imported.spec.layers == expectedLayers)
        expectSameTensors(
            imported.tensors,
            original.tensors.map { tensor in
                let parts = tensor.name.split(separator: ".", maxSplits: 1).map(String.init)
                return NamedTensor("\(renamed[parts[0]] ?? parts[0]).\(parts[1])", tensor.tensor.contiguous(as: .float32))
            })

        // And the spec means what PyTorch computed (first batch element of the golden).
        let input = original.spec.input
        let step: Float = ["caffe-alexnet", "caffenet"].contains(name) ? 1.0 / 8.0 : 1.0 / 64.0
        let x = Self.deterministicInput(count: 3 * input.channels * input.height * input.width, seed: 7, step: step)
        let golden = try NpyFixture.read(FixturePaths.path("forward/\(name).golden.npy"))
        let classes = golden.values.count / 3
        let y = try ReferenceForward.run(imported, input: Array(x[0..<(input.channels * input.height * input.width)]))
        #expect(maxAbsDiff(y, Array(golden.values[0..<classes])) < 1e-4)
    }
}

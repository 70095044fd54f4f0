import AlexConvCore
import AlexConvForward
import Foundation
import TestSupport
import Testing

/// oneDNN's kernels against the reference path (im2col / Winograd + BLAS), layer by layer.
@Suite("oneDNN kernels against the reference path", .enabled(if: ForwardKernels.oneDNNAvailable))
struct OneDNNTests {
    /// Per layer: max |oneDNN - reference| / max |reference|, the tolerance the golden tests use.
    static let tolerance = ForwardPresetTests.tolerance

    /// Every layer's activation of both paths on `x`; records the layers outside the tolerance.
    func compareLayerByLayer(_ model: Model, _ x: Tensor, label: String) throws {
        let reference = try Network(model: model, kernels: .reference)
        let onednn = try Network(model: model, kernels: .oneDNN)
        #expect(reference.kernels == .reference && onednn.kernels == .oneDNN)
        let (refOut, refLayers) = try reference.runCollectingActivations(x)
        let (out, layers) = try onednn.runCollectingActivations(x)
        #expect(layers.count == model.spec.layers.count && refLayers.count == layers.count)
        for (a, b) in zip(layers, refLayers) {
            #expect(a.tensor.shape == b.tensor.shape, "\(label) \(a.name): shape \(a.tensor.shape) vs \(b.tensor.shape)")
            guard a.tensor.shape == b.tensor.shape else { continue }
            let error = ForwardFixtures.relativeError(a.tensor.floats(), b.tensor.floats())
            #expect(error <= Self.tolerance, "\(label) \(a.name): relative error \(error) against the reference")
        }
        #expect(ForwardFixtures.relativeError(out.floats(), refOut.floats()) <= Self.tolerance)
        // The plain run uses the fused plan (ReLU as a post-op, no copies out): same output.
        let fused = try onednn.run(x)
        #expect(ForwardFixtures.relativeError(fused.floats(), refOut.floats()) <= Self.tolerance, "\(label): fused plan")
    }

    @Test(arguments: ForwardFixtures.names)
    func matchesReferenceLayerByLayer(_ name: String) throws {
        let model = try ForwardFixtures.model(name)
        try compareLayerByLayer(model, ForwardFixtures.input(for: name, spec: model.spec), label: name)
    }

    @Test(arguments: ["torchvision", "caffe-alexnet"])
    func matchesReferenceAcrossTiles(_ name: String) throws {
        // More items than one tile: a full tile and a remainder plan, activations collected from both.
        let model = try ForwardFixtures.model(name)
        let spec = model.spec
        let x = ForwardFixtures.deterministicInput(
            Network.maxChunk + 3, spec.input.channels, spec.input.height, spec.input.width,
            seed: 11, step: ForwardFixtures.step(name))
        try compareLayerByLayer(model, x, label: "\(name) x\(Network.maxChunk + 3)")
    }

    @Test func matchesReferenceAcrossChunks() throws {
        // 67 images: a chunk of 64 (four feature tiles, one classifier plan) and a chunk of 3.
        let model = try ForwardFixtures.model("torchvision")
        let spec = model.spec
        let x = ForwardFixtures.deterministicInput(67, spec.input.channels, spec.input.height, spec.input.width, seed: 13, step: 1.0 / 64)
        let expected = try Network(model: model, kernels: .reference).run(x).floats()
        let got = try Network(model: model, kernels: .oneDNN).run(x).floats()
        #expect(ForwardFixtures.relativeError(got, expected) <= Self.tolerance)
        let rows = expected.count / 67
        for item in [0, 15, 16, 63, 64, 66] {
            let range = item * rows..<(item + 1) * rows
            #expect(ForwardFixtures.relativeError(Array(got[range]), Array(expected[range])) <= Self.tolerance, "item \(item)")
        }
    }

    @Test func presetsRunJITKernelsNotReferenceCode() throws {
        // "Never the slow generic path by accident": every convolution, pooling, LRN and dense layer of
        // the presets runs a oneDNN JIT (or JIT GEMM) implementation, not oneDNN's ref:any fallback or
        // an alexconv reference island.
        for name in Presets.all.map(\.name) {
            let network = try Network(model: try ForwardFixtures.model(name), kernels: .oneDNN)
            for batch in [1, 3] {
                for ((layer, kernels), spec) in zip(try network.implementations(batch: batch), network.spec.layers) {
                    switch spec {
                    case .conv, .dense, .maxPool, .avgPool, .lrn, .batchNorm:
                        let main = kernels.last ?? ""
                        #expect(!main.hasPrefix("ref") && main != "reference", "\(name) batch \(batch) \(layer): \(kernels)")
                    default: break
                    }
                }
            }
        }
    }

    @Test func layersOneDNNCannotMatchRunAsReferenceIslands() throws {
        // custom-ops has an even LRN window (PyTorch's leans backward, oneDNN's is symmetric) and a
        // non-divisible adaptive pool; here its second average pool (counting padding, ceil mode) also
        // gets a 3x3 window, whose last window overhangs the padding (PyTorch's divisor clips it,
        // oneDNN's is always kh*kw). Those run the reference ops, everything else oneDNN.
        var model = try ForwardFixtures.model("custom-ops")
        let before = try model.spec.activationShapes()
        model.spec.layers[9] = model.spec.layers[9].withPoolKernel([3, 3])
        #expect(try model.spec.activationShapes() == before)
        let network = try Network(model: model, kernels: .oneDNN)
        var islands: [String] = []
        for ((layer, names), spec) in zip(try network.implementations(batch: 3), network.spec.layers) where names.contains("reference") {
            islands.append(layer)
            switch spec {
            case .lrn(let l): #expect(l.size % 2 == 0)
            case .avgPool(let p): #expect(p.ceilMode && p.countIncludePad)
            case .adaptiveAvgPool, .softmax: break
            default: Issue.record("\(layer) should run on oneDNN: \(names)")
            }
        }
        #expect(islands == ["lrn@3", "avgpool@10", "adaptiveavgpool@11", "softmax@18"])
        try compareLayerByLayer(model, ForwardFixtures.input(for: "custom-ops", spec: model.spec), label: "custom-ops, 3x3 overhanging pool")
        // The unmodified fixture's 2x2 pool stays inside its padding: oneDNN computes it.
        let fixture = try Network(model: try ForwardFixtures.model("custom-ops"), kernels: .oneDNN)
        #expect(!(try fixture.implementations(batch: 3)[9].kernels.contains("reference")))
    }

    @Test func ceilModePoolsRunOnOneDNNWithExtraEndPadding() throws {
        // Caffe's rounding: ceil-mode pools whose last window is partial (56 -> 28, 28 -> 14, 14 -> 7)
        // run as oneDNN pooling with the end padding widened, and agree with the reference.
        var model = try ForwardFixtures.model("torchvision")
        model.spec.input.height = 227
        model.spec.input.width = 227
        let floorShapes = try model.spec.activationShapes()
        model.spec.layers = model.spec.layers.map { layer in
            guard case .maxPool(var p) = layer else { return layer }
            p.ceilMode = true
            return .maxPool(p)
        }
        let shapes = try model.spec.activationShapes()
        let pools = model.spec.layers.indices.filter { if case .maxPool = model.spec.layers[$0] { return true } else { return false } }
        #expect(pools.count == 3)
        for index in pools { #expect(shapes[index] != floorShapes[index], "pool at \(index + 1) rounds the same both ways") }
        let network = try Network(model: model, kernels: .oneDNN)
        for (index, (layer, names)) in try network.implementations(batch: 2).enumerated() where pools.contains(index) {
            #expect(!names.contains("reference"), "\(layer): \(names)")
        }
        let x = ForwardFixtures.deterministicInput(2, 3, 227, 227, seed: 5, step: 1.0 / 64)
        try compareLayerByLayer(model, x, label: "torchvision ceil-mode at 227")
    }

    @Test func threadCountsAgree() throws {
        let model = try ForwardFixtures.model("alexnet-v1")
        let x = ForwardFixtures.input(for: "alexnet-v1", spec: model.spec)
        let network = try Network(model: model, kernels: .oneDNN)
        let all = Network.threads
        defer { Network.setThreads(all) }
        Network.setThreads(1)
        let one = try network.run(x).floats()
        Network.setThreads(2)
        let two = try network.run(x).floats()
        #expect(ForwardFixtures.relativeError(one, two) <= 1e-6)
    }

    @Test func kernelLineNamesLibraryISAAndThreads() {
        let line = ForwardKernels.oneDNN.summary(threads: 3)
        #expect(line.hasPrefix("oneDNN 2."))
        #expect(line.contains("JIT kernels for ") && line.contains("3 threads"))
        #expect(ForwardKernels.reference.summary(threads: 1).contains("1 thread"))
        #expect(ForwardKernels.automatic.summary(threads: 1) == ForwardKernels.oneDNN.summary(threads: 1))
    }
}

extension LayerSpec {
    /// This pooling layer with another kernel (other layers unchanged).
    func withPoolKernel(_ kernel: [Int]) -> LayerSpec {
        switch self {
        case .avgPool(var p):
            p.kernel = kernel
            return .avgPool(p)
        case .maxPool(var p):
            p.kernel = kernel
            return .maxPool(p)
        default: return self
        }
    }
}

import AlexConvCore
import AlexConvForward
import Foundation
import TestSupport
import Testing

/// Every preset's tiny fixture model against the framework's own output (PyTorch; TensorFlow ops
/// too for the Caffe and Keras presets), index by index, on every kernel set this build has.
@Suite("Forward pass against the frameworks")
struct ForwardPresetTests {
    static let tolerance: Float = 1e-4

    @Test(arguments: ForwardFixtures.names, ForwardFixtures.kernels)
    func matchesPyTorch(_ name: String, _ kernels: ForwardKernels) throws {
        let model = try ForwardFixtures.model(name)
        let network = try Network(model: model, kernels: kernels)
        let x = ForwardFixtures.input(for: name, spec: model.spec)
        let y = try network.run(x)
        let golden = try ForwardFixtures.golden("\(name).golden.npy")
        #expect(y.shape == [3, golden.count / 3])
        let error = ForwardFixtures.relativeError(y.floats(), golden)
        #expect(error <= Self.tolerance, "\(name): relative error \(error)")
        // The three items' outputs (logits where the model ends in softmax) differ well beyond the
        // tolerance, so index-by-index agreement is not an accident of a near-constant output.
        let raw = model.spec.endsInSoftmax ? try ForwardFixtures.golden("\(name).logits.npy") : golden
        let rows = raw.count / 3
        #expect(ForwardFixtures.relativeError(Array(raw[0..<rows]), Array(raw[rows..<2 * rows])) > 10 * Self.tolerance)
    }

    @Test(arguments: ForwardFixtures.names.filter { (try? ForwardFixtures.model($0).spec.endsInSoftmax) == true }, ForwardFixtures.kernels)
    func logitsStopBeforeSoftmax(_ name: String, _ kernels: ForwardKernels) throws {
        let model = try ForwardFixtures.model(name)
        let network = try Network(model: model, kernels: kernels)
        let y = try network.run(ForwardFixtures.input(for: name, spec: model.spec), logits: true)
        let error = ForwardFixtures.relativeError(y.floats(), try ForwardFixtures.golden("\(name).logits.npy"))
        #expect(error <= Self.tolerance, "\(name) logits: relative error \(error)")
    }

    @Test(arguments: ["caffe-alexnet", "caffenet", "keras-bn", "keras-2048"], ForwardFixtures.kernels)
    func matchesTensorFlowOps(_ name: String, _ kernels: ForwardKernels) throws {
        let model = try ForwardFixtures.model(name)
        let y = try Network(model: model, kernels: kernels).run(ForwardFixtures.input(for: name, spec: model.spec))
        let error = ForwardFixtures.relativeError(y.floats(), try ForwardFixtures.golden("\(name).tf_golden.npy"))
        #expect(error <= Self.tolerance, "\(name) vs TensorFlow: relative error \(error)")
    }

    @Test(arguments: ["torchvision", "caffe-alexnet", "keras-bn", "custom-ops"], ForwardFixtures.kernels)
    func batchSizesOneAndThreeAgree(_ name: String, _ kernels: ForwardKernels) throws {
        let model = try ForwardFixtures.model(name)
        let network = try Network(model: model, kernels: kernels)
        let x = ForwardFixtures.input(for: name, spec: model.spec)
        let all = try network.run(x).floats()
        let rows = all.count / 3
        for item in 0..<3 {
            let single = try network.run(x.sliced(axis: 0, item..<(item + 1))).floats()
            #expect(maxAbsDiff(single, Array(all[item * rows..<(item + 1) * rows])) <= 1e-6 * max(1, all.map(abs).max()!))
        }
        // A batch larger than one chunk (tile) runs in pieces and still matches item by item.
        let spec = model.spec
        let big = ForwardFixtures.deterministicInput(
            Network.maxChunk + 2, spec.input.channels, spec.input.height, spec.input.width,
            step: ForwardFixtures.step(name))
        let bigOut = try network.run(big).floats()
        let last = try network.run(big.sliced(axis: 0, (Network.maxChunk + 1)..<(Network.maxChunk + 2))).floats()
        #expect(maxAbsDiff(Array(bigOut.suffix(rows)), last) <= 1e-6 * max(1, last.map(abs).max()!))
    }
}

/// The mistakes converters make, shown to change the output beyond the tolerance the fixtures use.
@Suite("Forward pass catches conversion mistakes")
struct ForwardNegativeTests {
    /// Relative error of the (logit) output against the framework's golden.
    func error(of model: Model, against name: String) throws -> Float {
        let logits = model.spec.endsInSoftmax
        let y = try Network(model: model).run(ForwardFixtures.input(for: name, spec: model.spec), logits: logits)
        return ForwardFixtures.relativeError(y.floats(), try ForwardFixtures.golden("\(name).\(logits ? "logits" : "golden").npy"))
    }

    @Test func lrnAlphaNotDividedBySizeIsCaught() throws {
        var model = try ForwardFixtures.model("caffe-alexnet")
        model.spec.layers = model.spec.layers.map { layer in
            guard case .lrn(var l) = layer else { return layer }
            l.alpha *= Double(l.size)  // TF's per-element alpha mistaken for Caffe's, or vice versa
            return .lrn(l)
        }
        let e = try error(of: model, against: "caffe-alexnet")
        #expect(e > 10 * ForwardPresetTests.tolerance, "wrong LRN alpha gave relative error \(e) only")
    }

    @Test(arguments: ["torchvision", "keras-bn"])
    func flattenInHWCOrderIsCaught(_ name: String) throws {
        var model = try ForwardFixtures.model(name)
        guard let map = try model.spec.flattenedMap() else {
            Issue.record("no flatten")
            return
        }
        // fc6 weight read as if its columns ran over (H, W, C): what a missing permutation does.
        let w = try model.tensor("fc6.weight")
        let out = w.shape[0]
        let swapped = w.reshaped([out, map.height, map.width, map.channels]).transposed([0, 3, 1, 2]).reshaped([out, map.channels * map.height * map.width])
        model["fc6.weight"] = swapped.contiguous()
        let e = try error(of: model, against: name)
        #expect(e > 10 * ForwardPresetTests.tolerance, "swapped flatten order gave relative error \(e) only")
    }

    @Test func wrongPaddingIsCaught() throws {
        var model = try ForwardFixtures.model("torchvision")
        // TF-style SAME padding puts the odd pixel at the end: [1, 1, 3, 3] instead of [2, 2, 2, 2]
        // keeps every shape and still shifts conv2's window.
        model.spec.layers = model.spec.layers.map { layer in
            guard case .conv(var c) = layer, c.name == "conv2" else { return layer }
            c.padding = [1, 1, 3, 3]
            return .conv(c)
        }
        let e = try error(of: model, against: "torchvision")
        #expect(e > 10 * ForwardPresetTests.tolerance, "wrong padding gave relative error \(e) only")
    }

    @Test func wrongBatchNormEpsilonIsCaught() throws {
        // Keras's 1e-3 read as PyTorch's 1e-5.
        var model = try ForwardFixtures.model("keras-bn")
        model.spec.layers = model.spec.layers.map { layer in
            guard case .batchNorm(var b) = layer else { return layer }
            b.epsilon = b.epsilon == 1e-5 ? 1e-3 : 1e-5
            return .batchNorm(b)
        }
        let e = try error(of: model, against: "keras-bn")
        #expect(e > 10 * ForwardPresetTests.tolerance, "wrong epsilon gave relative error \(e) only")
    }
}

/// Inputs the network cannot take are errors that say what was expected.
@Suite("Forward pass input checks")
struct ForwardInputTests {
    @Test func wrongShapesAreErrors() throws {
        let network = try Network(model: try ForwardFixtures.model("torchvision"))
        let cases: [[Int]] = [[1, 4, 224, 224], [1, 3, 227, 227], [3, 224, 224], [0, 3, 224, 224], [2, 224, 224, 3]]
        for shape in cases {
            let x = Tensor.zeros(shape)
            #expect(throws: ForwardError.self, "shape \(shape)") { _ = try network.run(x) }
        }
        do {
            _ = try network.run(Tensor.zeros([1, 4, 224, 224]))
        } catch let error as ForwardError {
            #expect(error.description.contains("expected (N, 3, 224, 224)"))
            #expect(error.exitCode == 3)
        }
        #expect(throws: ForwardError.self) { _ = try network.run(Tensor.zeros([1, 3, 224, 224], dtype: .int32)) }
    }

    @Test func hugeRecordedInputSizeIsAnErrorNotAnAllocation() throws {
        // A spec (from a file's metadata) may claim any input size; the adaptive pool keeps fc6 small,
        // so the tensors still fit and only the plan's buffer limit stands between it and the allocator.
        var model = try ForwardFixtures.model("torchvision")
        model.spec.input.height = 100_000
        model.spec.input.width = 100_000
        #expect(throws: ForwardError.self) { _ = try Network(model: model) }
        // The image half of this check (a recorded resize of 1,000,000) is in AlexConvImagesTests.
    }

    @Test func modelThatDoesNotFitItsSpecIsAnError() throws {
        var model = try ForwardFixtures.model("torchvision")
        model["fc6.weight"] = Tensor.zeros([32, 100])
        #expect(throws: ModelError.self) { _ = try Network(model: model) }
    }
}

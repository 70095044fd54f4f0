import AlexConvCore
import AlexConvForward
import AlexConvNumPy
import Foundation
import TestSupport
import Testing

@testable import AlexConvTensorFlow

/// The fixture image as TensorFlow was fed it, in alexconv's NCHW: seed 002's TF1 graph took BGR
/// 0-255 floats (cv2.imread order, no mean), the Keras models RGB / 255.
func tensorflowInput(bgr: Bool) throws -> Tensor {
    let image = try NumPyReader.readArray(path: tensorflowFixture("input_chelsea_u8.npy"))
    #expect(image.shape == [1, 227, 227, 3] && image.dtype == .uint8)
    let pixels = image.floats()
    var values = [Float](repeating: 0, count: pixels.count)
    for c in 0..<3 {
        let source = bgr ? 2 - c : c
        for y in 0..<227 {
            for x in 0..<227 {
                let v = pixels[(y * 227 + x) * 3 + source]
                values[(c * 227 + y) * 227 + x] = bgr ? v : v / 255
            }
        }
    }
    return Tensor(values, shape: [1, 3, 227, 227])
}

/// Largest |alexconv - TensorFlow| over the outputs of `model` and `golden` (npy), index by index,
/// relative to the largest |TensorFlow output|.
func relativeError(_ model: Model, input: Tensor, golden: String, logits: Bool) throws -> Float {
    let expected = try NumPyReader.readArray(path: tensorflowFixture(golden)).floats()
    let got = try Network(model: model).run(input, logits: logits).floats()
    guard got.count == expected.count else { return .infinity }
    return maxAbsDiff(got, expected) / max(expected.map(abs).max() ?? 1, .leastNormalMagnitude)
}

/// Tolerance of the forward comparisons: 1e-5 of the output's scale (float32 sums in another order).
let forwardTolerance: Float = 1e-5

/// Runs `model` and compares index by index with TensorFlow's output `golden`.
func expectSameOutput(
    _ model: Model, input: Tensor, golden: String, logits: Bool,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let error = try relativeError(model, input: input, golden: golden, logits: logits)
    #expect(error <= forwardTolerance, "\(golden): max |alexconv - tensorflow| is \(error) of the output's scale", sourceLocation: sourceLocation)
}

@Suite struct TensorFlowForwardTests {
    @Test func tf1Seed002GraphComputesWhatTensorFlowComputed() throws {
        let bundle = try TensorFlowCheckpointReader.read(path: tensorflowFixture("tf1/model.ckpt-1000"))
        // Seed 002's graph pools before its LRN: caffenet. Detection alone cannot tell and says so.
        let detected = try Recognizer.recognize(bundle)
        #expect(detected.model.spec.name == "caffe-alexnet")
        #expect(detected.ambiguities.contains { $0.preset == "caffenet" && $0.fitsEquallyWell })
        #expect(detected.model.spec.classes == 5)
        let model = try Recognizer.recognize(bundle, choice: .preset(Presets.caffeNet)).model
        let input = try tensorflowInput(bgr: true)
        try expectSameOutput(model, input: input, golden: "tf1_logits.npy", logits: true)
        // The comparison is sharp enough to tell the two LRN placements (and the channel orders) apart.
        #expect(try relativeError(detected.model, input: input, golden: "tf1_logits.npy", logits: true) > 10 * forwardTolerance)
        #expect(try relativeError(model, input: try tensorflowInput(bgr: false), golden: "tf1_logits.npy", logits: true) > 10 * forwardTolerance)
    }

    @Test func partitionedCheckpointComputesTheSame() throws {
        let bundle = try TensorFlowCheckpointReader.read(path: tensorflowFixture("tf1_partitioned/model.ckpt"))
        let model = try Recognizer.recognize(bundle, choice: .preset(Presets.caffeNet)).model
        try expectSameOutput(model, input: try tensorflowInput(bgr: true), golden: "tf1_logits.npy", logits: true)
    }

    @Test func tf2SequentialIsDetectedAsKerasBN() throws {
        let bundle = try TensorFlowCheckpointReader.read(path: tensorflowFixture("tf2_sequential/alexnet"))
        let recognition = try Recognizer.recognize(bundle)
        #expect(recognition.model.spec.name == "keras-bn")
        try expectSameOutput(recognition.model, input: try tensorflowInput(bgr: false), golden: "tf2_sequential_probs.npy", logits: false)
    }

    @Test func tf2SubclassIsDetectedAsKeras2048() throws {
        let bundle = try TensorFlowCheckpointReader.read(path: tensorflowFixture("tf2_subclass/alexnet"))
        let recognition = try Recognizer.recognize(bundle)
        #expect(recognition.model.spec.name == "keras-2048")
        #expect(recognition.nameMap.first { $0.source == "middle_layers/0/kernel" }?.canonical == "conv3.weight")
        try expectSameOutput(recognition.model, input: try tensorflowInput(bgr: false), golden: "tf2_subclass_probs.npy", logits: false)
    }

    @Test func savedModelRunsWithTheArchitectureOfItsKerasConfig() throws {
        let bundle = try TensorFlowCheckpointReader.read(path: tensorflowFixture("savedmodel"))
        let recognition = try Recognizer.recognize(bundle)
        #expect(recognition.model.spec.batchNorms.first?.epsilon == 1e-5)
        try expectSameOutput(recognition.model, input: try tensorflowInput(bgr: false), golden: "savedmodel_probs.npy", logits: false)
    }
}

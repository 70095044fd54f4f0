import AlexConvNumPy
import Foundation
import TestSupport
import Testing

@testable import AlexConv

/// ONNX files written by torch.onnx.export and onnx.helper, imported through the CLI's loader and
/// run by alexconv's own forward pass, match onnxruntime's outputs index by index.
@Suite struct ONNXForwardTests {
    @Test(arguments: ["torchvision_tiny", "kerasbn_tiny", "zoo_tiny"])
    func importedGraphsComputeWhatOnnxruntimeComputed(name: String) throws {
        let model = try ModelLoader.load(path: FixturePaths.path("onnx/\(name).onnx"))
        let raw = try NumPyReader.readArray(path: FixturePaths.path("onnx/\(name)_input.npy"))
        // The fixture script fed onnxruntime (u8 - 128) / 32.
        let x = Tensor(raw.floats().map { ($0 - 128) / 32 }, shape: raw.shape)
        let expected = try NumPyReader.readArray(path: FixturePaths.path("onnx/\(name)_output.npy")).floats()
        let got = try Network(model: model).run(x).floats()
        let scale = expected.map(abs).max() ?? 1
        #expect(maxAbsDiff(got, expected) <= 1e-4 * max(scale, 1), "\(name)")
    }
}

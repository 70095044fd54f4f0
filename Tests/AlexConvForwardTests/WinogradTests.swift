import AlexConvCore
import AlexConvForward
import Foundation
import TestSupport
import Testing

@Suite("Winograd F(2x2, 3x3) against im2col", .serialized)
struct WinogradTests {
    /// A 3x3 stride-1 grouped convolution with asymmetric padding and odd output sizes (partial
    /// tiles at the bottom and right), wide enough for Winograd, computed both ways.
    @Test func matchesIm2colOnOddShapes() throws {
        let conv = ConvSpec(name: "conv1", outChannels: 16, kernel: [3, 3], stride: [1, 1], padding: [1, 0, 2, 1], groups: 2, bias: true)
        let spec = ArchitectureSpec(
            name: "custom",
            input: InputSpec(
                height: 13, width: 11, channels: 16, channelOrder: .rgb, scale: 1,
                mean: Array(repeating: 0, count: 16), std: Array(repeating: 1, count: 16)),
            layers: [.conv(conv)])
        let w = ForwardFixtures.deterministicInput(16, 8, 3, 3, seed: 3, step: 1.0 / 4096)
        let b = ForwardFixtures.deterministicInput(1, 1, 1, 16, seed: 5, step: 1.0 / 4096).reshaped([16])
        let model = Model(spec: spec, tensors: [NamedTensor("conv1.weight", w), NamedTensor("conv1.bias", b)], source: "test")
        let x = ForwardFixtures.deterministicInput(3, 16, 13, 11, step: 1.0 / 256)
        defer { Network.usesWinograd = true }
        Network.usesWinograd = true
        let winograd = try Network(model: model, kernels: .reference).run(x)
        Network.usesWinograd = false
        let im2col = try Network(model: model, kernels: .reference).run(x)
        #expect(winograd.shape == [3, 16, 14, 10] && im2col.shape == winograd.shape)
        #expect(ForwardFixtures.relativeError(winograd.floats(), im2col.floats()) < 1e-5)
    }
}

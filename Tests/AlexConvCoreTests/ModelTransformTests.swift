import TestSupport
import Testing

@testable import AlexConvCore

@Suite struct ModelTransformTests {
    @Test func towersExpandAndCollapseLosslessly() throws {
        let model = TinyModels.model(Presets.caffeAlexNet)
        let one = model.expandingTowers()
        #expect(one.towersPerConv == [1, 1, 1, 1, 1])
        try one.validate()
        let two = try one.collapsingToTwoTowers()
        #expect(two.towersPerConv == [1, 2, 1, 2, 2])
        for t in model.tensors { #expect(two[t.name]!.bitwiseEqual(t.tensor), "\(t.name)") }
    }

    @Test func collapsingADenseModelFailsWithTheLayer() {
        let model = TinyModels.model(Presets.alexnetV1)
        #expect(throws: ModelError.self) { try model.collapsingToTwoTowers() }
    }

    @Test func channelSwapReversesConv1InputsAndMean() throws {
        let model = TinyModels.model(Presets.caffeAlexNet)
        let rgb = try model.withChannelOrder(.rgb)
        #expect(rgb.spec.input.channelOrder == .rgb)
        #expect(rgb.spec.input.mean == [123, 117, 104])
        #expect(rgb["conv1.weight"]!.bitwiseEqual(LayoutRules.swapInputChannels(model["conv1.weight"]!)))
        let back = try rgb.withChannelOrder(.bgr)
        #expect(back["conv1.weight"]!.bitwiseEqual(model["conv1.weight"]!))
    }
}

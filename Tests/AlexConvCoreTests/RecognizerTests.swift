import Foundation
import TestSupport
import Testing

@testable import AlexConvCore

@Suite struct RecognizerTests {
    /// The model as a bvlc-style file would hold it: `conv1/0` HWIO, `fc6/0` (H*W*C, out), ...
    func bvlcBundle(_ model: Model) throws -> TensorBundle {
        let map = try #require(try model.spec.flattenedMap())
        var tensors: [NamedTensor] = []
        for conv in model.spec.convs {
            tensors.append(NamedTensor("\(conv.name)/0", LayoutRules.oihwToHwio(model["\(conv.name).weight"]!)))
            tensors.append(NamedTensor("\(conv.name)/1", model["\(conv.name).bias"]!))
        }
        for (i, dense) in model.spec.denses.enumerated() {
            let w = model["\(dense.name).weight"]!
            let tf =
                i == 0
                ? LayoutRules.fc6ToChannelsLast(w, channels: map.channels, height: map.height, width: map.width)
                : LayoutRules.transposeDense(w)
            tensors.append(NamedTensor("\(dense.name)/0", tf.contiguous()))
            tensors.append(NamedTensor("\(dense.name)/1", model["\(dense.name).bias"]!))
        }
        return TensorBundle(path: "tiny.npy", format: "npy", tensors: tensors.reversed(), layout: .channelsLast)
    }

    func expectSameTensors(_ a: Model, _ b: Model) {
        #expect(a.tensors.map(\.name) == b.tensors.map(\.name))
        for t in a.tensors {
            #expect(b[t.name].map { $0.bitwiseEqual(t.tensor) } == true, "\(t.name)")
        }
    }

    @Test func theFilesOwnArchitectureProblemLeadsTheErrorWhenNoPresetFits() throws {
        var bundle = TensorBundle(
            path: "m.keras", format: "keras", tensors: [NamedTensor("dense/kernel", Tensor([Float](repeating: 0, count: 6), shape: [2, 3]))],
            layout: .channelsLast)
        bundle.specProblem = "layer 'scale_input' is a Lambda layer"
        do {
            _ = try Recognizer.recognize(bundle)
            Issue.record("recognised a bundle with no convolutions")
        } catch let error as ModelError {
            #expect(error.description.contains("'scale_input' is a Lambda layer") && error.remedy == .nameArchitecture, "\(error)")
        }
    }

    @Test func bvlcStyleBundleBecomesCanonicalBitExactly() throws {
        let model = TinyModels.model(Presets.caffeAlexNet)
        let recognition = try Recognizer.recognize(try bvlcBundle(model))
        #expect(recognition.model.spec == model.spec)
        #expect(recognition.layout == .channelsLast)
        expectSameTensors(model, recognition.model)
        #expect(recognition.ambiguities.contains { $0.preset == "caffenet" && $0.description.hasPrefix("caffenet") })
    }

    @Test func layoutIsInferredFromShapesWhenTheFormatDoesNotSay() throws {
        let model = TinyModels.model(Presets.caffeAlexNet)
        var bundle = try bvlcBundle(model)
        bundle.layout = nil
        let recognition = try Recognizer.recognize(bundle)
        #expect(recognition.layout == .channelsLast)
        expectSameTensors(model, recognition.model)
    }

    @Test func torchvisionNamesPickTorchvisionAndV1NamesPickV1() throws {
        let tv = TinyModels.model(Presets.torchvision)
        let keys = ["features.0", "features.3", "features.6", "features.8", "features.10", "classifier.1", "classifier.4", "classifier.6"]
        let layers = tv.spec.convs.map(\.name) + tv.spec.denses.map(\.name)
        var tensors: [NamedTensor] = []
        for (key, layer) in zip(keys, layers) {
            tensors.append(NamedTensor("\(key).weight", tv["\(layer).weight"]!))
            tensors.append(NamedTensor("\(key).bias", tv["\(layer).bias"]!))
        }
        let r = try Recognizer.recognize(TensorBundle(path: "m.pth", format: "pth", tensors: tensors.shuffled(), layout: .channelsFirst))
        #expect(r.model.spec.name == "torchvision")
        expectSameTensors(tv, r.model)

        let v1Keys = ["features.0", "features.4", "features.8", "features.10", "features.12", "classifier.1", "classifier.4", "classifier.6"]
        var v1Tensors: [NamedTensor] = []
        for (key, layer) in zip(v1Keys, layers) {
            v1Tensors.append(NamedTensor("\(key).weight", tv["\(layer).weight"]!))
            v1Tensors.append(NamedTensor("\(key).bias", tv["\(layer).bias"]!))
        }
        let r1 = try Recognizer.recognize(TensorBundle(path: "m.pth", format: "pth", tensors: v1Tensors, layout: .channelsFirst))
        #expect(r1.model.spec.name == "alexnet-v1")
    }

    @Test func explicitPresetAndBatchNormLayers() throws {
        let bn = TinyModels.model(Presets.kerasBN)
        let r = try Recognizer.recognize(TensorBundle(path: "c.safetensors", format: "safetensors", tensors: bn.tensors))
        #expect(r.model.spec.name == "keras-bn")
        expectSameTensors(bn, r.model)
        #expect(throws: ModelError.self) {
            try Recognizer.recognize(TensorBundle(path: "c", format: "x", tensors: bn.tensors), choice: .preset(Presets.torchvision))
        }
    }

    @Test func shapeMismatchNamesTheTensor() throws {
        var model = TinyModels.model(Presets.torchvision)
        model["fc7.weight"] = Tensor(Array(repeating: 0, count: 32 * 31), shape: [32, 31])
        do {
            _ = try Recognizer.recognize(TensorBundle(path: "bad.pth", format: "pth", tensors: model.tensors, layout: .channelsFirst))
            Issue.record("expected an error")
        } catch let error as ModelError {
            #expect(error.description.contains("bad.pth"))
        }
    }

    @Test func unmatchedTensorsAreListed() throws {
        var tensors = TinyModels.model(Presets.torchvision).tensors
        tensors.append(NamedTensor("mystery", Tensor([1, 2, 3], shape: [3])))
        #expect(throws: ModelError.self) {
            try Recognizer.recognize(TensorBundle(path: "x", format: "x", tensors: tensors))
        }
    }

    @Test func nameMapRenamesSourceTensors() throws {
        let model = TinyModels.model(Presets.half)
        let renamed = model.tensors.enumerated().map { NamedTensor("p\($0.offset)", $0.element.tensor) }
        var map: [String: String] = [:]
        for (i, t) in model.tensors.enumerated() { map["p\(i)"] = t.name }
        let r = try Recognizer.recognize(TensorBundle(path: "x", format: "x", tensors: renamed), choice: .preset(Presets.half), map: map)
        expectSameTensors(model, r.model)
        #expect(throws: ModelError.self) {
            try Recognizer.recognize(TensorBundle(path: "x", format: "x", tensors: renamed), map: ["nope": "conv1.weight"])
        }
    }

    @Test func parsedNames() {
        #expect(ParsedTensorName("conv1_W") == ParsedTensorName(layerKey: "conv1", role: .weight, position: nil))
        #expect(ParsedTensorName("conv2d_1/kernel:0").layerKey == "conv2d_1")
        #expect(ParsedTensorName("features.10.bias").role == .bias)
        #expect(ParsedTensorName("bn1.running_mean").layerKey == "bn1")
        #expect(ParsedTensorName("layers/dense/vars/1").position == 1)
        #expect(naturalLess("features.3", "features.10"))
        #expect(naturalLess("conv2d", "conv2d_1") && naturalLess("conv2d_2", "conv2d_10"))
    }
}

extension ParsedTensorName {
    init(layerKey: String, role: TensorRole?, position: Int?) {
        self.init("x")
        self.layerKey = layerKey
        self.role = role
        self.position = position
    }
}

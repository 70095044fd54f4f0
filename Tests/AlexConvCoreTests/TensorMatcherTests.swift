import TestSupport
import Testing

@testable import AlexConvCore

@Suite struct TensorMatcherTests {
    let model = TinyModels.model(Presets.caffeAlexNet)

    @Test func fittingTensorsComeBackInTheSpecsOrder() throws {
        let shuffled = model.tensors.reversed().map { $0 }
        let ordered = try TensorMatcher.match(shuffled, to: model.spec)
        #expect(ordered.map(\.name) == model.tensors.map(\.name))
    }

    @Test func everyMissingUnexpectedAndWrongShapeTensorIsReportedAtOnce() {
        var tensors = model.tensors.filter { $0.name != "conv3.bias" && $0.name != "fc8.weight" }
        tensors.append(NamedTensor("extra.weight", Tensor([1, 2], shape: [2])))
        tensors.append(NamedTensor("conv9.bias", Tensor([1], shape: [1])))
        let index = tensors.firstIndex { $0.name == "fc6.weight" }!
        tensors[index].tensor = Tensor([Float](repeating: 0, count: 6), shape: [2, 3])
        do {
            _ = try TensorMatcher.match(tensors, to: model.spec, sourceNames: ["fc6.weight": "dense_1/kernel:0"])
            Issue.record("mismatched tensors accepted")
        } catch let error as ModelError {
            let mismatch = try! #require(error.mismatch)
            #expect(mismatch.missing.map(\.name) == ["conv3.bias", "fc8.weight"])
            #expect(mismatch.missing.map(\.shape) == [[24], [10, 32]])
            #expect(mismatch.unexpected == ["conv9.bias", "extra.weight"])
            #expect(mismatch.wrongShapes == [.init(name: "fc6.weight", sourceName: "dense_1/kernel:0", expected: [32, 16 * 6 * 6], found: [2, 3])])
            #expect(
                error.description == "5 tensors do not fit architecture caffe-alexnet: missing conv3.bias (24), fc8.weight (10, 32); "
                    + "wrong shape fc6.weight (file: 'dense_1/kernel:0'): expected (32, 576), found (2, 3); "
                    + "unexpected conv9.bias, extra.weight (no place in the architecture)")
            #expect(!error.description.contains("\n"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func modelValidationAndCanonicalFilesUseTheMatcher() throws {
        var broken = model
        broken["conv1.bias"] = nil
        broken["conv2.bias"] = nil
        do {
            try broken.validate()
            Issue.record("incomplete model validated")
        } catch let error as ModelError {
            #expect(error.mismatch?.missing.map(\.name) == ["conv1.bias", "conv2.bias"])
        }
        let bundle = TensorBundle(
            path: "m.alexnet.safetensors", format: "safetensors", tensors: broken.tensors,
            metadata: [CanonicalFile.specKey: try model.spec.json(), CanonicalFile.versionKey: "1"])
        do {
            _ = try CanonicalFile.model(from: bundle)
            Issue.record("incomplete canonical file accepted")
        } catch let error as ModelError {
            #expect(error.file == "m.alexnet.safetensors")
            #expect(error.mismatch?.missing.count == 2)
        }
    }
}

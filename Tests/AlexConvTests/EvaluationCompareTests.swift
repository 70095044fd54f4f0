import Foundation
import TestSupport
import Testing

@testable import AlexConv

/// `compare`: forms and lossless conversions of the digits model agree on every image; a
/// deliberately wrong channel order does not.
@Suite("Evaluation: comparing two models")
struct EvaluationCompareTests {
    static var digits: String { FixturePaths.path("evaluate/digits") }

    static func settings() -> ComparisonSettings {
        var settings = ComparisonSettings()
        settings.progress = false
        return settings
    }

    @Test("the torch, Keras and bvlc-npy forms agree on every image")
    func formsAgree() throws {
        let torch = FixturePaths.path("evaluate/digits_torch.pth")
        for other in ["digits_keras.h5", "digits_bvlc.npy"] {
            let result = try Evaluation.compare(torch, FixturePaths.path("evaluate/" + other), images: Self.digits, settings: Self.settings())
            #expect(result.compared == 300 && result.top1Agreement == 100 && result.top5Overlap == 100 && result.flipped.isEmpty, "\(other)")
            #expect(result.maxProbabilityDifference < 1e-6, "\(other): \(result.maxProbabilityDifference)")
            #expect(result.agree && result.text.contains("models agree"))
        }
    }

    @Test("a channel swap done right (--channels rgb) agrees; the same weights told the wrong order do not")
    func channelOrder() throws {
        let source = FixturePaths.path("evaluate/digits_torch.pth")
        let model = try ModelLoader.load(path: source)
        let set = try ImageSetLoader.unlabelled(root: Self.digits)
        let swapped = try Conversion.transform(model, channels: .rgb)
        let right = try Evaluation.compare(model, "bgr", swapped, "rgb", set: set, settings: Self.settings())
        #expect(right.top1Agreement == 100 && right.maxProbabilityDifference < 1e-4, "\(right.maxProbabilityDifference)")
        #expect(right.notes.contains { $0.contains("record different preprocessing") })

        var wrong = model
        wrong.spec.input.channelOrder = .rgb  // conv1 still expects BGR
        wrong.spec.input.mean = wrong.spec.input.mean.reversed()
        let result = try Evaluation.compare(model, "bgr", wrong, "told rgb", set: set, settings: Self.settings())
        #expect(result.top1Agreement < 90 && !result.agree, "\(result.top1Agreement)")
        #expect(result.flipped.count == 300 - Int((result.top1Agreement * 3).rounded()))
        #expect(result.text.contains("images whose top-1 differs (A vs B):"))
        #expect(result.largestDifferences.first?.maxProbabilityDifference == Float(result.maxProbabilityDifference))

        // The command line: exit 1, one line naming the agreement.
        let dir = FixturePaths.temporaryDirectory("compare-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wrongPath = dir + "/wrong.alexnet.safetensors"
        try CanonicalFile.write(wrong, to: wrongPath)
        let (status, output, errors) = try EvaluationRunTests.alexconv(["compare", source, wrongPath, "--images", Self.digits, "--json", "--quiet"])
        #expect(status == 1)
        #expect(errors.hasPrefix("alexconv: models disagree: top-1 agreement") && errors.split(separator: "\n").count == 1, "\(errors)")
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        #expect(json?["agree"] as? Bool == false && (json?["flipped"] as? [Any])?.count == result.flipped.count)
        let (ok, _, _) = try EvaluationRunTests.alexconv(["compare", source, wrongPath, "--images", Self.digits, "--min-agreement", "0", "--quiet"])
        #expect(ok == 0)
    }

    @Test("models with different classes, and folders without images, are refused")
    func refusals() throws {
        let digits = try ModelLoader.load(path: FixturePaths.path("evaluate/digits_torch.pth"))
        let thousand = TinyModels.model(Presets.named("caffe-alexnet")!)
        var other = thousand
        other.spec = Presets.named("caffe-alexnet")!.spec(convWidths: TinyModels.convWidths, fcWidths: TinyModels.fcWidths, classes: 7)
        let set = try ImageSetLoader.unlabelled(root: Self.digits)
        #expect(throws: ModelError.self) { try Evaluation.compare(digits, "a", other, "b", set: set, settings: Self.settings()) }
        let empty = FixturePaths.temporaryDirectory("compare-empty")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: FormatError.self) { try ImageSetLoader.unlabelled(root: empty) }
    }
}

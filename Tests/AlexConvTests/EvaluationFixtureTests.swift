import Foundation
import TestSupport
import Testing

@testable import AlexConv

/// The trained digits model of Fixtures/evaluate (make_evaluate_fixtures.py): alexconv's evaluate
/// reproduces, image by image, the accuracy each framework measured on its own form, and every
/// export alexconv writes keeps it.
@Suite("Evaluation: the trained digits model")
struct EvaluationFixtureTests {
    /// Fixtures/evaluate/expected.json.
    struct Expected {
        let images: Int
        let accuracy: [String: (top1: Double, top5: Double)]
        let shorterSide: (top1: Double, top5: Double)
        let torchTop1: [String: Int]

        static let shared: Expected = {
            let data = try! Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("evaluate/expected.json")))
            let json = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
            func pair(_ d: Any?) -> (Double, Double) {
                let d = d as! [String: Any]
                return ((d["top1"] as! NSNumber).doubleValue, (d["top5"] as! NSNumber).doubleValue)
            }
            var accuracy: [String: (Double, Double)] = [:]
            for (name, value) in json["accuracy"] as! [String: Any] { accuracy[name] = pair(value) }
            return Expected(
                images: (json["images"] as! NSNumber).intValue, accuracy: accuracy,
                shorterSide: pair(json["accuracy_shorter_side"]),
                torchTop1: (json["torch_top1"] as! [String: Any]).mapValues { ($0 as! NSNumber).intValue })
        }()
    }

    static let forms = ["torch": "digits_torch.pth", "keras": "digits_keras.h5", "bvlc-npy": "digits_bvlc.npy"]
    static var digits: String { FixturePaths.path("evaluate/digits") }

    static func settings() -> EvaluationSettings {
        var settings = EvaluationSettings()
        settings.progress = false
        return settings
    }

    /// Checks `result` against torch's class for every image and the stored accuracy.
    static func expectReproduces(
        _ result: EvaluationResult, _ top1: Double, _ top5: Double, _ label: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let expected = Expected.shared
        #expect(result.evaluated == expected.images, "\(label): \(result.evaluated) images", sourceLocation: sourceLocation)
        #expect(result.unreadable.isEmpty, "\(label): \(result.unreadable)", sourceLocation: sourceLocation)
        // Counts, not rounded percentages: 269 of 300 is 89.666...%.
        #expect(
            Int((result.top1 * Double(result.evaluated) / 100).rounded()) == Int((top1 * Double(expected.images) / 100).rounded()),
            "\(label): top-1 \(result.top1), expected \(top1)", sourceLocation: sourceLocation)
        #expect(
            abs(result.top1 - top1) < 1e-9 && abs(result.top5 - top5) < 1e-9,
            "\(label): top-1 \(result.top1) top-5 \(result.top5), expected \(top1) / \(top5)", sourceLocation: sourceLocation)
    }

    @Test("each form reproduces its own framework's accuracy, image by image", arguments: ["torch", "keras", "bvlc-npy"])
    func formReproducesFramework(_ form: String) throws {
        let expected = Expected.shared
        let result = try Evaluation.evaluate(
            model: FixturePaths.path("evaluate/" + Self.forms[form]!), images: Self.digits,
            settings: Self.settings())
        #expect(result.architecture == "caffe-alexnet")
        #expect(result.preprocessing.contains("warp to 256x256"))
        Self.expectReproduces(result, expected.accuracy[form]!.top1, expected.accuracy[form]!.top5, form)
        for p in result.predictions {
            #expect(p.top.first == expected.torchTop1[p.image], "\(form): \(p.image) top-1 \(p.top.first ?? -1), torch \(expected.torchTop1[p.image] ?? -1)")
        }
        // Accuracy is non-trivial and the failures are real: the worst class is listed with its confusions.
        #expect(result.top1 > 80 && result.top1 < 100)
        let worst = try #require(result.perClass.first { $0.index == result.worstClasses.first })
        #expect(worst.top1Correct < worst.images && !worst.confusedWith.isEmpty)
    }

    @Test("every export alexconv writes gives the same predictions")
    func everyExportKeepsTheAccuracy() throws {
        let expected = Expected.shared
        let source = FixturePaths.path("evaluate/digits_torch.pth")
        let model = try ModelLoader.load(path: source)
        let dir = FixturePaths.temporaryDirectory("evaluate-exports")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let set = try ImageSetLoader.labelled(root: Self.digits, labels: nil, classes: 10)
        for format in FormatRegistry.exportFormats {
            let exporter = try FormatRegistry.exporter(for: format)
            let path = dir + "/digits" + exporter.fileExtension(for: format)
            let written = try Conversion.export(model, inputPath: source, request: ExportRequest(format: format, output: path, force: true))
            let back = try ModelLoader.load(path: written.path)
            #expect(back.spec.input == model.spec.input, "\(format): preprocessing changed: \(back.spec.input)")
            let result = try Evaluation.evaluate(back, name: written.path, set: set, settings: Self.settings())
            Self.expectReproduces(result, expected.accuracy["torch"]!.top1, expected.accuracy["torch"]!.top5, format)
            let moved = result.predictions.filter { $0.top.first != expected.torchTop1[$0.image] }.map(\.image)
            #expect(moved.isEmpty, "\(format): top-1 changed for \(moved)")
        }
    }

    @Test("a Caffe list and a CSV of the same images give the same accuracy, in their own order", arguments: ["digits_val.txt", "digits_labels.csv"])
    func labelFiles(_ file: String) throws {
        let expected = Expected.shared
        var settings = Self.settings()
        settings.labels = FixturePaths.path("evaluate/" + file)
        let result = try Evaluation.evaluate(model: FixturePaths.path("evaluate/digits_torch.pth"), images: Self.digits, settings: settings)
        Self.expectReproduces(result, expected.accuracy["torch"]!.top1, expected.accuracy["torch"]!.top5, file)
        let listed = try String(contentsOfFile: FixturePaths.path("evaluate/digits_val.txt"), encoding: .utf8)
            .split(separator: "\n").map { String($0.split(separator: " ")[0]) }
        #expect(result.predictions.map(\.image) == listed)
    }

    @Test("torchvision's shorter-side resize instead of the recorded warp reproduces torch's number for it")
    func resizeOverride() throws {
        let expected = Expected.shared
        var settings = Self.settings()
        settings.resize = .shorterSide
        let result = try Evaluation.evaluate(model: FixturePaths.path("evaluate/digits_bvlc.npy"), images: Self.digits, settings: settings)
        Self.expectReproduces(result, expected.shorterSide.top1, expected.shorterSide.top5, "shorter side")
        #expect(result.notes.contains { $0.contains("shorter-side instead of the model's recorded warp") })
        // The convention matters on these non-square images: well over ten points.
        #expect(expected.accuracy["torch"]!.top1 - result.top1 > 10)
    }
}

import AlexConvCore
import Foundation

// MARK: - Evaluation reports: text, JSON, JUnit XML

extension EvaluationResult {
    /// Human-readable summary: accuracies, the worst classes and what they were mistaken for, the
    /// unreadable images, both rates and the expectations.
    public var text: String {
        var lines: [String] = []
        lines.append("model: \(model) (\(architecture), \(classes) classes)")
        lines.append("images: \(images) (\(labelSource))")
        lines.append("preprocessing: \(preprocessing)")
        lines += notes.map { "note: \($0)" }
        if interrupted {
            lines.append("INTERRUPTED: partial result after \(evaluated + unreadable.count) of \(planned) images")
        }
        let resumedText = resumed > 0 ? ", \(resumed) of them from the resume file" : ""
        lines.append("evaluated: \(evaluated) images (\(unreadable.count) unreadable\(resumedText))")
        let correct1 = predictions.filter(\.correct).count
        let correct5 = predictions.filter { $0.correct(within: 5) }.count
        lines.append(String(format: "top-1: %.2f%% (%d of %d)", top1, correct1, evaluated))
        lines.append(String(format: "top-%d: %.2f%% (%d of %d)", min(5, classes), top5, correct5, evaluated))
        if topK != 1 && topK != 5 {
            lines.append(String(format: "top-%d: %.2f%%", topK, topKAccuracy))
        }
        if !worstClasses.isEmpty {
            lines.append("worst classes (top-1):")
            for index in worstClasses {
                guard let c = perClass.first(where: { $0.index == index }) else { continue }
                let confused = c.confusedWith.map { "\(Self.classWords($0.index, $0.name)) (\($0.count))" }.joined(separator: ", ")
                lines.append(
                    String(
                        format: "  %@: %.2f%% of %d, mistaken for %@", Self.classWords(c.index, c.name) as NSString,
                        c.top1, c.images, confused as NSString))
            }
        }
        if !unreadable.isEmpty {
            lines.append("unreadable images (counted out of the accuracy):")
            for u in unreadable.prefix(20) { lines.append("  \(oneLine(u.image)): \(u.reason)") }
            if unreadable.count > 20 { lines.append("  ... and \(unreadable.count - 20) more (all in --json)") }
        }
        if rates.images > 0 { lines.append("speed: \(rates.summary)") }
        for check in expectations { lines.append("expectation: \(check.summary)") }
        return lines.joined(separator: "\n")
    }

    /// `3 tiger shark (n01491361)`, or `3` when the name is the index itself (a folder named `3`).
    static func classWords(_ index: Int, _ name: String) -> String {
        name == "\(index)" || name == "class \(index)" ? "\(index)" : "\(index) \(oneLine(name))"
    }

    /// JSON: everything but the per-image predictions (the misclassified images are listed), sorted keys.
    public var json: String {
        struct Output: Encodable {
            let model, architecture, images, labelSource, preprocessing: String
            let classes, planned, evaluated, resumed, topK: Int
            let interrupted, passed: Bool
            let top1, top5, topKAccuracy: Double
            let unreadable: [UnreadableImage]
            let perClass: [ClassRow]
            let worstClasses: [Int]
            let expectations: [ExpectationCheck]
            let rates: Rates
            let notes: [String]
            let misclassified: [ImagePrediction]
        }
        struct ClassRow: Encodable {
            let index, images, top1Correct, top5Correct: Int
            let name: String
            let top1, top5: Double
            let confusedWith: [ClassAccuracy.Confusion]
        }
        struct Rates: Encodable {
            let images, decodeThreads: Int
            let seconds, forwardSeconds, decodeSeconds, imagesPerSecond, forwardImagesPerSecond, decodeImagesPerSecond: Double
            let boundBy: String
        }
        let output = Output(
            model: model, architecture: architecture, images: images, labelSource: labelSource, preprocessing: preprocessing,
            classes: classes, planned: planned, evaluated: evaluated, resumed: resumed, topK: topK,
            interrupted: interrupted, passed: passed, top1: top1, top5: top5, topKAccuracy: topKAccuracy,
            unreadable: unreadable,
            perClass: perClass.map {
                ClassRow(
                    index: $0.index, images: $0.images, top1Correct: $0.top1Correct, top5Correct: $0.top5Correct,
                    name: $0.name, top1: $0.top1, top5: $0.top5, confusedWith: $0.confusedWith)
            },
            worstClasses: worstClasses, expectations: expectations,
            rates: Rates(
                images: rates.images, decodeThreads: rates.decodeThreads, seconds: rates.seconds,
                forwardSeconds: rates.forwardSeconds, decodeSeconds: rates.decodeSeconds,
                imagesPerSecond: rates.imagesPerSecond, forwardImagesPerSecond: rates.forwardImagesPerSecond,
                decodeImagesPerSecond: rates.decodeImagesPerSecond, boundBy: rates.boundBy),
            notes: notes, misclassified: misclassified)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(output)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// JUnit XML: one testsuite "alexconv evaluate", a testcase per expectation (or one "accuracy"
    /// case when none was given); unreadable images (not fatal without `--strict`) are listed in
    /// the suite's system-out.
    public var junit: String {
        var cases: [(name: String, failure: String?)] = []
        if expectations.isEmpty {
            cases.append((String(format: "accuracy: top-1 %.2f%%, top-5 %.2f%% on %d images", top1, top5, evaluated), nil))
        }
        for check in expectations { cases.append((check.metric + " accuracy", check.passed ? nil : check.summary)) }
        let failures = cases.filter { $0.failure != nil }.count
        let time = String(format: "%.3f", rates.seconds)
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites tests=\"\(cases.count)\" failures=\"\(failures)\" time=\"\(time)\">\n"
        xml += "  <testsuite name=\"alexconv evaluate\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\" time=\"\(time)\">\n"
        for c in cases {
            xml += "    <testcase classname=\"\(escapeXML(model))\" name=\"\(escapeXML(c.name))\" time=\"\(time)\""
            if let failure = c.failure {
                xml += ">\n      <failure message=\"\(escapeXML(failure))\" type=\"accuracy\">\(escapeXML(failure))</failure>\n    </testcase>\n"
            } else {
                xml += "/>\n"
            }
        }
        if !unreadable.isEmpty {
            let list = unreadable.map { "\($0.image): \($0.reason)" }.joined(separator: "\n")
            xml += "    <system-out>\(escapeXML("\(unreadable.count) unreadable images (counted out of the accuracy):\n" + list))</system-out>\n"
        }
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }
}

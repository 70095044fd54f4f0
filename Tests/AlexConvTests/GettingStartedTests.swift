import AlexConv
import Foundation
import TestSupport
import Testing

// The code of Sources/AlexConv/AlexConv.docc/GettingStarted.md, run on the fixtures. Plain
// `import AlexConv` (not @testable): the article uses the library's API only. Keep the lines
// between the markers identical to the article's code blocks; `articleCodeIsThisCode` checks it.

@Suite("DocC getting-started article")
struct GettingStartedTests {
    static let testFile = URL(fileURLWithPath: #filePath)
    static let article = URL(fileURLWithPath: FixturePaths.root).deletingLastPathComponent()
        .appendingPathComponent("Sources/AlexConv/AlexConv.docc/GettingStarted.md")

    @Test func articleCodeRuns() throws {
        let directory = FixturePaths.temporaryDirectory("getting-started")
        // The article's `let name = "file"` lines, pointed at the fixtures and a scratch folder.
        let source = FixturePaths.path("numpy/bvlc_py2.npy")
        let converted = directory + "/bvlc_alexnet_rgb.pth"
        let batchFile = FixturePaths.path("forward/x227_u8.npy")
        let expectations = FixturePaths.path("expected.json")

        // article: begin
        let model = try ModelLoader.load(path: source)
        print(model.spec.name, model.parameterCount, "parameters")
        print("towers per conv:", model.towersPerConv, "input:", model.spec.input.channelOrder)

        let written = try Conversion.export(
            model, inputPath: source,
            request: ExportRequest(
                format: "pth", output: converted, towers: .one, channels: .rgb))
        print("wrote", written.path, "as", written.format)
        for note in written.notes { print("note:", note) }

        let oneTowerRGB = try Conversion.transform(model, towers: .one, channels: .rgb)
        print("towers per conv:", oneTowerRGB.towersPerConv, "input:", oneTowerRGB.spec.input.channelOrder)

        let network = try Network(model: oneTowerRGB)
        let shape = [2] + network.inputShape
        let batch = Tensor([Float](repeating: 0.5, count: shape.reduce(1, *)), shape: shape)
        let probabilities = try network.run(batch)
        let logits = try network.run(batch, logits: true)
        print("output", probabilities.shape, "first logits", logits.floats().prefix(3))

        let diff = try ForwardTasks.diff(source, converted, input: batchFile)
        print(diff.text)
        guard diff.agree else { throw VerificationFailure("the conversion changed what the model computes") }

        let report = try ForwardTasks.verify(model: nil, expect: expectations)
        print(report.text)
        guard report.passed else { throw VerificationFailure("\(report.failures) of \(report.cases.count) cases failed") }
        // article: end

        // What the article says happened, checked.
        #expect(model.towersPerConv.contains(2) && model.spec.input.channelOrder == .bgr)
        #expect(written.path == converted && written.format == "pth")
        #expect(oneTowerRGB.towersPerConv.allSatisfy { $0 == 1 } && oneTowerRGB.spec.input.channelOrder == .rgb)
        let reloaded = try ModelLoader.load(path: converted)
        #expect(reloaded.towersPerConv == oneTowerRGB.towersPerConv && reloaded.spec.input.channelOrder == .rgb)
        #expect(probabilities.shape == [2, model.spec.classes ?? 0] && logits.shape == probabilities.shape)
        #expect(!diff.layers.isEmpty && diff.notes.count == 2)
        #expect(report.cases.count > 1)
    }

    /// Every line of the article's Swift code blocks appears in `articleCodeRuns`, in order, except
    /// the `let name = "file"` lines, which the test declares with fixture paths instead.
    @Test func articleCodeIsThisCode() throws {
        let article = try String(contentsOf: Self.article, encoding: .utf8)
        let test = try String(contentsOf: Self.testFile, encoding: .utf8)
        var blocks: [[String]] = []
        var current: [String]?
        for line in article.components(separatedBy: "\n") {
            if line.hasPrefix("```swift") {
                current = []
            } else if line.hasPrefix("```"), let block = current {
                blocks.append(block)
                current = nil
            } else if current != nil {
                current!.append(line.trimmingCharacters(in: .whitespaces))
            }
        }
        #expect(blocks.count >= 5, "the article's code blocks")
        let testLines = test.components(separatedBy: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let begin = try #require(testLines.firstIndex(of: "// article: begin"))
        let end = try #require(testLines.firstIndex(of: "// article: end"))
        let body = Array(testLines[begin..<end])
        var position = 0
        for line in blocks.joined() where !line.isEmpty {
            if line == "import AlexConv" {
                #expect(testLines.contains(line))
                continue
            }
            if let name = Self.fileConstant(line) {
                #expect(testLines.contains { $0.hasPrefix("let \(name) = ") }, "the test names '\(name)'")
                continue
            }
            guard let found = body[position...].firstIndex(of: line) else {
                Issue.record("article line not in the test (in this order): \(line)")
                continue
            }
            position = found + 1
        }
    }

    /// `name` when `line` is `let name = "a file"`.
    static func fileConstant(_ line: String) -> String? {
        guard line.hasPrefix("let "), line.hasSuffix("\""), let equals = line.range(of: " = \"") else { return nil }
        return String(line[line.index(line.startIndex, offsetBy: 4)..<equals.lowerBound])
    }
}

import AlexConvImages
import Foundation
import TestSupport
import Testing

@testable import AlexConv

/// The HTML reports are self-contained and escape every name (Interop/report renders them in Chromium).
@Suite("Evaluation: HTML reports")
struct EvaluationReportTests {
    /// Every `src=`/`href=` value of `html`.
    static func references(_ html: String) -> [String] {
        var found: [String] = []
        for attribute in ["src=\"", "href=\""] {
            var rest = html[...]
            while let range = rest.range(of: attribute) {
                let value = rest[range.upperBound...].prefix { $0 != "\"" }
                found.append(String(value))
                rest = rest[range.upperBound...]
            }
        }
        return found
    }

    @Test("escaping covers markup, quotes, control characters and bidirectional overrides")
    func escaping() {
        #expect(HTMLReport.escape("<a href=\"x\" onclick='y'>&amp;</a>") == "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;")
        #expect(HTMLReport.escape("a\u{0}b\u{1B}c\u{202E}d\u{2066}e\tf") == "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\tf")
        #expect(HTMLReport.escape("ünïcödé 猫") == "ünïcödé 猫")
    }

    @Test("an evaluation report names hostile file and folder names only as text and embeds its thumbnails")
    func evaluationReport() throws {
        let root = FixturePaths.temporaryDirectory("report")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let png = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("evaluate/digits/8/d0414.png")))
        let folder = root + "/8<script>x()<"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try png.write(to: URL(fileURLWithPath: folder + "/\"><img src=x onerror=y>.png"))
        try "8<script>x()</8\"><img src=x onerror=y>.png 8\n".write(toFile: root + "/val.txt", atomically: true, encoding: .utf8)
        // The label file names it with a path that does not exist (the '/' makes it a folder): unreadable, listed.
        let model = try ModelLoader.load(path: FixturePaths.path("evaluate/digits_torch.pth"))
        var set = try ImageSetLoader.labelled(root: root, labels: nil, classes: 10)
        set.images += try LabelFile.read(path: root + "/val.txt", root: root, classes: 10).images
        var settings = EvaluationSettings()
        settings.progress = false
        settings.expectTop1 = 100
        let result = try Evaluation.evaluate(model, name: "m<odel>.pth", set: set, settings: settings)
        #expect(result.evaluated == 1 && result.unreadable.count == 1 && !result.predictions[0].correct)
        let html = result.html()
        #expect(!html.contains("<script") && !html.contains("<img src=x") && !html.contains("onerror=y>"))
        #expect(html.contains("8&lt;script&gt;x()&lt;") && html.contains("&quot;&gt;&lt;img src=x onerror=y&gt;.png"))
        #expect(html.contains("m&lt;odel&gt;.pth"))
        #expect(html.contains("Expectation missed") && html.contains("Misclassified images (1)") && html.contains("Unreadable images (1"))
        let references = Self.references(html)
        #expect(references.count == 1 && references.allSatisfy { $0.hasPrefix("data:image/jpeg;base64,") }, "\(references.map { $0.prefix(40) })")
        // The thumbnail is a real JPEG of the image.
        let data = try #require(Data(base64Encoded: String(references[0].dropFirst("data:image/jpeg;base64,".count))))
        let thumbnail = try [UInt8](data).withUnsafeBytes { try ImageDecoder.decode($0) }
        #expect(thumbnail.width == 48 && thumbnail.height == 32)
        #expect(html.contains("default-src 'none'; img-src data:"))
    }

    @Test("thumbnails keep the aspect ratio and fit the box; large JPEGs decode reduced by DCT scaling, close to full decoding")
    func thumbnailsAndDCTScaling() throws {
        let photo = try ImageDecoder.decode(path: FixturePaths.path("images/astronaut.jpg"))
        let small = ImageEncoder.thumbnail(photo, maxSide: 64)
        #expect(max(small.width, small.height) == 64 && abs(Double(small.width) / Double(small.height) - Double(photo.width) / Double(photo.height)) < 0.05)
        // A 2048x1536 JPEG (the photograph enlarged) for a 256 resize: reduced 1/2 while decoding (1/4 would leave 384 rows, under twice 256).
        var pixels = [UInt8](repeating: 0, count: 2048 * 1536 * 3)
        for y in 0..<1536 {
            for x in 0..<2048 {
                let source = ((y * photo.height / 1536) * photo.width + x * photo.width / 2048) * 3
                for c in 0..<3 { pixels[(y * 2048 + x) * 3 + c] = photo.pixels[source + c] }
            }
        }
        let large = RGBImage(width: 2048, height: 1536, pixels: pixels)
        let jpeg = try ImageEncoder.jpeg(large, quality: 92)
        let full = try jpeg.withUnsafeBytes { try ImageDecoder.decode($0) }
        let reduced = try jpeg.withUnsafeBytes { try ImageDecoder.decode($0, atLeast: (256, 256)) }
        #expect(full.width == 2048 && reduced.width == 1024 && reduced.height == 768)
        let input = Presets.imagenetInput()
        let a = try ImagePreprocessor.tensor(for: full, input: input).floats()
        let b = try ImagePreprocessor.tensor(for: reduced, input: input).floats()
        let meanDifference = zip(a, b).map { abs($0 - $1) }.reduce(0, +) / Float(a.count)
        // Normalised units (about 1/58 per 0-255 level): under two levels on average.
        #expect(meanDifference < 0.03, "\(meanDifference)")
        // Small images are never reduced; PNGs never.
        let kept = try jpeg.withUnsafeBytes { try ImageDecoder.decode($0, atLeast: (1024, 1024)) }
        #expect(kept.width == 2048)
    }

    @Test("a diff report draws the per-layer divergence and marks the first divergent layer")
    func diffReport() throws {
        let model = try ModelLoader.load(path: FixturePaths.path("evaluate/digits_torch.pth"))
        var other = model
        other.tensors = model.tensors.map { named in
            guard named.name == "conv3.bias" else { return named }
            return NamedTensor(named.name, Tensor(named.tensor.floats().map { $0 + 0.5 }, shape: named.tensor.shape))
        }
        var rng = SplitMix64(seed: 5)
        let x = Tensor((0..<(2 * 3 * 227 * 227)).map { _ in rng.nextUnit() * 200 - 100 }, shape: [2, 3, 227, 227])
        let diff = try ModelDiff.compare(model, other, input: x)
        let html = diff.html(a: "a.pth", b: "b<.pth")
        #expect(diff.firstDivergentLayer?.name == "conv3")
        #expect(html.contains("▼ first divergent") && html.contains("first divergent layer 9 conv3 (conv)") && html.contains("b&lt;.pth"))
        #expect(html.components(separatedBy: "<rect ").count - 1 == diff.layers.count)
        #expect(Self.references(html).isEmpty)
    }
}

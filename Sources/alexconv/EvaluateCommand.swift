import AlexConv
import ArgumentParser
import Foundation

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Top-1 / top-5 accuracy on a labelled image folder; exit 1 when an expectation is missed.",
        discussion: """
            Labels come from --labels (Caffe val.txt `FILE LABEL` lines, or a CSV of file,label; paths \
            relative to --images) or from the folders: ImageNet synset folders (n01440764/...) for \
            1000-class models, else torchvision ImageFolder (one folder per class, sorted). Images are \
            preprocessed exactly as the model's spec records it (--resize overrides the resize \
            convention), decoded on --threads threads while the forward pass runs. Unreadable images \
            are counted and named, not fatal unless --strict. Ctrl-C prints the partial result (exit \
            130); with --resume FILE the next run continues where this one stopped.
            """)

    @Argument(help: "The model (any readable weight file).")
    var model: String

    @Option(name: .long, help: "The image folder.")
    var images: String

    @Option(name: .long, help: "Label file: Caffe val.txt (`FILE LABEL`) or CSV (file,label). Default: class folders.")
    var labels: String?

    @Option(name: .long, help: "Classes kept per image; top-1 and top-5 are always reported, top-K too.")
    var top: Int = 5

    @Option(name: .long, help: "Images per forward pass.")
    var batch: Int = 32

    @Option(name: .long, help: "Evaluate only the first N images.")
    var limit: Int?

    @Option(name: .customLong("expect-top1"), help: "Expected top-1 accuracy in percent (exit 1 when missed by more than --tolerance).")
    var expectTop1: Double?

    @Option(name: .customLong("expect-top5"), help: "Expected top-5 accuracy in percent.")
    var expectTop5: Double?

    @Option(name: .long, help: "Allowed distance from an expectation, in percentage points.")
    var tolerance: Double = 0.1

    @Option(name: .long, help: "Resize convention instead of the model's recorded one: shorter-side (torchvision) or warp (Caffe).")
    var resize: ResizeMode?

    @Flag(name: .customLong("full-decode"), help: "Decode large JPEGs at full size (no DCT scaling).")
    var fullDecode = false

    @Flag(name: .long, help: "Stop at the first unreadable image (exit 3) instead of counting it.")
    var strict = false

    @Option(name: .long, help: "Keep per-image predictions in this file and continue from it when it exists.")
    var resume: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: "Also write a JUnit XML report to this file (for CI systems).")
    var junit: String?

    @Option(name: .long, help: "Also write a self-contained HTML report (summary, per-class table, misclassified images with thumbnails).")
    var report: String?

    @Flag(name: .long, help: "Overwrite existing report files.")
    var force = false

    @OptionGroup var importOptions: ImportOptions

    @OptionGroup var forwardOptions: ForwardOptions

    func validate() throws {
        if top < 1 { throw ValidationError("--top must be at least 1") }
        if batch < 1 || batch > 4096 { throw ValidationError("--batch must be 1...4096") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if tolerance < 0 { throw ValidationError("--tolerance must not be negative") }
        for (name, value) in [("--expect-top1", expectTop1), ("--expect-top5", expectTop5)] {
            if let value, !(0...100).contains(value) { throw ValidationError("\(name) is a percentage, 0...100") }
        }
        let outputs = [junit, report, resume].compactMap { $0 }
        if Set(outputs).count < outputs.count { throw ValidationError("--junit, --report and --resume must name different files") }
    }

    func run() throws {
        let inputs = [model] + importOptions.files + importOptions.inputFiles(of: model) + [labels].compactMap { $0 }
        // Checked before the run (no wasted work); written without replacing unless --force.
        for output in [junit, report].compactMap({ $0 }) {
            try OutputRule.check(output, inputs: inputs + [resume].compactMap { $0 }, overwrite: force)
        }
        forwardOptions.apply()
        var settings = EvaluationSettings()
        settings.labels = labels
        settings.top = top
        settings.batch = batch
        settings.limit = limit
        settings.resize = resize
        settings.reduceLargeJPEGs = !fullDecode
        settings.strict = strict
        settings.resume = resume
        settings.decodeThreads = forwardOptions.threads
        settings.expectTop1 = expectTop1
        settings.expectTop5 = expectTop5
        settings.tolerance = tolerance
        EvaluationInterrupt.install()
        defer { EvaluationInterrupt.uninstall() }
        let result = try Evaluation.evaluate(
            model: model, images: images, settings: settings, arch: importOptions.arch,
            map: importOptions.map, options: importOptions.readerOptions)
        if let junit, !result.interrupted {
            try writeAtomically(to: junit, overwrite: force) { try $0.write(result.junit) }
        }
        if let report {
            try writeAtomically(to: report, overwrite: force) { try $0.write(result.html()) }
        }
        print(json ? result.json : result.text)
        if result.interrupted {
            let next = resume.map { "; run the same command again to continue from \($0)" } ?? "; --resume FILE keeps the predictions so a run can continue"
            throw EvaluationInterrupted("interrupted after \(result.evaluated + result.unreadable.count) of \(result.planned) images\(next)")
        }
        if !result.passed {
            let missed = result.expectations.filter { !$0.passed }.map(\.summary).joined(separator: "; ")
            throw VerificationFailure("expectation missed: \(missed)")
        }
    }
}

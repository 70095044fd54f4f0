import AlexConv
import ArgumentParser
import Foundation

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Run two models on the same images: top-1 agreement, top-5 overlap, largest probability difference, the images whose top-1 differs.",
        discussion: """
            No labels needed: every image under --images (recursively) is used. Each model gets the \
            preprocessing it records (one decode per image). Exit 1 when the top-1 agreement is below \
            --min-agreement (default 100: a conversion must change no prediction).
            """)

    @Argument(help: "Model A (the reference).")
    var a: String

    @Argument(help: "Model B.")
    var b: String

    @Option(name: .long, help: "The image folder.")
    var images: String

    @Option(name: .long, help: "Images per forward pass.")
    var batch: Int = 32

    @Option(name: .long, help: "Compare only the first N images (sorted paths).")
    var limit: Int?

    @Option(name: .customLong("min-agreement"), help: "Top-1 agreement in percent below which the command exits 1.")
    var minAgreement: Double = 100

    @Option(name: .long, help: "Resize convention for both models instead of their recorded ones: shorter-side or warp.")
    var resize: ResizeMode?

    @Flag(name: .customLong("full-decode"), help: "Decode large JPEGs at full size (no DCT scaling).")
    var fullDecode = false

    @Flag(name: .long, help: "Stop at the first unreadable image (exit 3) instead of counting it.")
    var strict = false

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML report (the flipped images with both models' top-5 bars).")
    var report: String?

    @Flag(name: .long, help: "Overwrite an existing report.")
    var force = false

    @OptionGroup var importOptions: ImportOptions

    @OptionGroup var forwardOptions: ForwardOptions

    func validate() throws {
        if batch < 1 || batch > 4096 { throw ValidationError("--batch must be 1...4096") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if !(0...100).contains(minAgreement) { throw ValidationError("--min-agreement is a percentage, 0...100") }
    }

    func run() throws {
        if let report {
            let inputs = [a, b] + importOptions.files + importOptions.inputFiles(of: a) + importOptions.inputFiles(of: b)
            try OutputRule.check(report, inputs: inputs, overwrite: force)
        }
        forwardOptions.apply()
        var settings = ComparisonSettings()
        settings.batch = batch
        settings.limit = limit
        settings.resize = resize
        settings.reduceLargeJPEGs = !fullDecode
        settings.strict = strict
        settings.decodeThreads = forwardOptions.threads
        settings.minimumAgreement = minAgreement
        EvaluationInterrupt.install()
        defer { EvaluationInterrupt.uninstall() }
        let result = try Evaluation.compare(
            a, b, images: images, settings: settings, arch: importOptions.arch,
            map: importOptions.map, options: importOptions.readerOptions)
        if let report {
            try writeAtomically(to: report, overwrite: force) { try $0.write(result.html()) }
        }
        print(json ? result.json : result.text)
        if result.interrupted {
            throw EvaluationInterrupted("interrupted after \(result.compared + result.unreadable.count) of \(result.planned) images")
        }
        if !result.agree {
            throw VerificationFailure(
                String(
                    format: "models disagree: top-1 agreement %.2f%% (%d of %d images differ), below %.2f%%",
                    result.top1Agreement, result.flipped.count, result.compared, minAgreement))
        }
    }
}

import AlexConv
import ArgumentParser
import Foundation

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Run the cases of an EXPECTED.json (images with top-k labels, tensors with goldens); exit 1 if any fails.",
        discussion: """
            Paths in EXPECTED.json are relative to its folder. MODEL, when given, is used for every case; \
            otherwise each case's "model" or the file's "model". A tensor case passes when every element \
            is within atol + rtol*|expected| (index by index); an image case when the top-k labels match in order.
            """)

    @Argument(help: "The model (any readable weight file); optional when EXPECTED.json names the models.")
    var model: String?

    @Option(name: .long, help: "The EXPECTED.json file.")
    var expect: String

    @Flag(name: .long, help: "Print a JSON report.")
    var json = false

    @Option(name: .long, help: "Also write a JUnit XML report to this file (for CI systems).")
    var junit: String?

    @Flag(name: .long, help: "Overwrite an existing JUnit report.")
    var force = false

    @OptionGroup var importOptions: ImportOptions

    @OptionGroup var forwardOptions: ForwardOptions

    func run() throws {
        if let junit {
            // Checked before the run (no wasted work) and written without replacing unless --force.
            let inputs = [model, expect].compactMap { $0 } + (try ExpectedFile.load(path: expect)).referencedFiles
            try OutputRule.check(junit, inputs: inputs, overwrite: force)
        }
        forwardOptions.apply()
        let report = try ForwardTasks.verify(
            model: model, expect: expect, arch: importOptions.arch, map: importOptions.map,
            options: importOptions.readerOptions)
        if let junit {
            try writeAtomically(to: junit, overwrite: force) { try $0.write(report.junit) }
        }
        print(json ? report.json : report.text)
        if !report.passed {
            throw VerificationFailure("verification failed: \(report.failures) of \(report.cases.count) cases failed (\(expect))")
        }
    }
}

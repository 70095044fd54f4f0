import AlexConv
import ArgumentParser

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two models tensor by tensor after canonicalisation and, with --input, layer by layer.",
        discussion: """
            Prints max abs / rel error per canonical tensor. With --input (a preprocessed float32 NCHW batch), \
            runs both models and names the first layer whose activations diverge beyond tolerance. \
            Exit 1 when the models differ beyond tolerance (with --input: when any layer's activations do).
            """)

    @Argument(help: "Model A (the reference).")
    var a: String

    @Argument(help: "Model B (compared against A).")
    var b: String

    @Option(name: .long, help: "Input batch .npy, float32 (N, C, H, W), for the layer-by-layer comparison.")
    var input: String?

    @Option(name: .long, help: "Absolute tolerance.")
    var atol: Double = Tolerance.standard.atol

    @Option(name: .long, help: "Relative tolerance.")
    var rtol: Double = Tolerance.standard.rtol

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML report (per-layer divergence chart, tensor table).")
    var report: String?

    @Flag(name: .long, help: "Overwrite an existing report.")
    var force = false

    @OptionGroup var importOptions: ImportOptions

    @OptionGroup var forwardOptions: ForwardOptions

    func validate() throws {
        if atol < 0 || rtol < 0 { throw ValidationError("--atol and --rtol must not be negative") }
    }

    func run() throws {
        if let report {
            let inputs = [a, b] + [input].compactMap { $0 } + importOptions.files + importOptions.inputFiles(of: a) + importOptions.inputFiles(of: b)
            try OutputRule.check(report, inputs: inputs, overwrite: force)
        }
        forwardOptions.apply()
        let diff = try ForwardTasks.diff(
            a, b, input: input, tolerance: Tolerance(atol: atol, rtol: rtol),
            arch: importOptions.arch, map: importOptions.map, options: importOptions.readerOptions)
        if let report {
            try writeAtomically(to: report, overwrite: force) { try $0.write(diff.html(a: a, b: b)) }
        }
        print(json ? diff.json : diff.text)
        if !diff.agree {
            if let first = diff.firstDivergentLayer {
                throw VerificationFailure("models differ: first divergent layer \(first.index + 1) \(first.name) (\(first.type))")
            }
            throw VerificationFailure("models differ beyond tolerance")
        }
    }
}

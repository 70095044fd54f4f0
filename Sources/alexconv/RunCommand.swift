import AlexConv
import ArgumentParser

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the forward pass on an already preprocessed float32 batch and write the output as .npy.",
        discussion: """
            The input is fed straight to conv1: no resizing or normalisation. The output is the model's \
            last layer (logits, or probabilities where the model ends in softmax), float32 (N, classes).
            """)

    @Argument(help: "The model (any readable weight file).")
    var model: String

    @Option(name: .long, help: "Input batch .npy, float32 (N, C, H, W) or, with --layout nhwc, (N, H, W, C).")
    var input: String

    @Option(name: .long, help: "Output .npy file to write.")
    var output: String

    @Option(name: .long, help: "Layout of the input (and of a feature-map output).")
    var layout: BatchLayout = .nchw

    @Flag(name: .long, help: "Stop before a final softmax.")
    var logits = false

    @Flag(name: .long, help: "Overwrite an existing output file.")
    var force = false

    @OptionGroup var importOptions: ImportOptions

    @OptionGroup var forwardOptions: ForwardOptions

    func run() throws {
        forwardOptions.apply()
        let shape = try ForwardTasks.run(
            model: model, input: input, output: output,
            layout: layout, logits: logits,
            arch: importOptions.arch, map: importOptions.map, overwrite: force,
            options: importOptions.readerOptions)
        print("wrote \(output): float32 \(shape)")
    }
}

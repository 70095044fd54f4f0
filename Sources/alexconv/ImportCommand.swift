import AlexConv
import ArgumentParser

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Write the canonical model file (default <stem>.alexnet.safetensors in the current directory).")

    @Argument(help: "The weight file.")
    var file: String

    @Option(name: .shortAndLong, help: "Output path.")
    var output: String?

    @OptionGroup var importOptions: ImportOptions

    @Flag(name: .long, help: "Keep the source element type instead of float32.")
    var keepDtype = false

    @Flag(name: .long, help: "Overwrite an existing output file.")
    var force = false

    func run() throws {
        let (_, recognition) = try ModelLoader.recognize(
            path: file, arch: importOptions.arch, map: importOptions.map,
            options: importOptions.readerOptions)
        let output = output ?? Conversion.defaultImportOutput(for: file)
        try Conversion.checkOutput(output, inputs: [file] + importOptions.files + importOptions.inputFiles(of: file), force: force)
        let model = recognition.model
        try CanonicalFile.write(model, to: output, dtype: keepDtype ? nil : .float32, overwrite: force)
        let towers = model.towersPerConv.contains { $0 > 1 } ? ", towers \(model.towersPerConv)" : ""
        print("\(output): \(model.spec.name), \(model.parameterCount) parameters, \(model.spec.input.channelOrder.rawValue.uppercased()) input\(towers)")
    }
}

import AlexConv
import ArgumentParser

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Import and export in one step; the format comes from OUT's extension unless --format is given.")

    @Argument(help: "Input weight file.")
    var input: String

    @Argument(help: "Output file.")
    var output: String

    @Option(name: .long, help: "Target format (default: from OUT's extension).")
    var format: ExportFormat?

    @OptionGroup var importOptions: ImportOptions
    @OptionGroup var writeOptions: WriteOptions

    func run() throws {
        let model = try ModelLoader.load(path: input, arch: importOptions.arch, map: importOptions.map, options: importOptions.readerOptions)
        let written = try Conversion.export(
            model, inputPath: input,
            request: writeOptions.request(
                format: format, output: output,
                protecting: importOptions.files + importOptions.inputFiles(of: input)))
        for note in written.notes { printError("note: \(note)") }
        print("\(written.path): \(written.format), \(model.spec.name)")
    }
}

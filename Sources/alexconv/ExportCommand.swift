import AlexConv
import ArgumentParser
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model as another format, applying every layout rule the target needs.",
        discussion: "Without MODEL, exports the canonical model `alexconv import` last wrote in the current directory (the newest *.alexnet.safetensors).")

    @Argument(help: "The model (any readable weight file). Default: the last imported canonical model here.")
    var model: String?

    @Option(name: .long, help: "Target format.")
    var format: ExportFormat

    @Option(name: .shortAndLong, help: "Output path (default: the model's stem with the format's extension).")
    var output: String?

    @OptionGroup var importOptions: ImportOptions
    @OptionGroup var writeOptions: WriteOptions

    func run() throws {
        let path: String
        if let model {
            path = model
        } else {
            path = try Conversion.lastImported()
            printError("alexconv: exporting \(path) (the newest canonical model here)")
        }
        let loaded = try ModelLoader.load(path: path, arch: importOptions.arch, map: importOptions.map, options: importOptions.readerOptions)
        let written = try Conversion.export(
            loaded, inputPath: path,
            request: writeOptions.request(
                format: format, output: output,
                protecting: importOptions.files + importOptions.inputFiles(of: path)))
        for note in written.notes { printError("note: \(note)") }
        print("\(written.path): \(written.format), \(loaded.spec.name)")
    }
}

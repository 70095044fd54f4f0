import AlexConv
import ArgumentParser

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Explain a weight file: format, tensors, the architecture it matches and why, layout, towers, input conventions.")

    @Argument(help: "The weight file.")
    var file: String

    @OptionGroup var importOptions: ImportOptions

    @Flag(name: .long, help: "Print JSON (its `spec` field is a valid --arch spec file).")
    var json = false

    func run() throws {
        let report = try InspectReport.make(path: file, arch: importOptions.arch, map: importOptions.map, options: importOptions.readerOptions)
        print(json ? report.json : report.text)
    }
}

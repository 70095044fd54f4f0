import AlexConv
import Foundation
import TestSupport
import Testing

// MARK: - No data loss: failed exports leave the previous file and no temporary file

@Suite("No data loss: exports are atomic, inputs and existing outputs are protected")
struct HostileDataLossTests {
    static let previous = Array("the previous file, which must survive\n".utf8)

    /// Files in `directory` left by an atomic writer (`.<name>.tmp-alexconv-XXXXXX`).
    func temporaryFiles(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.contains(".tmp-alexconv-") }
    }

    @Test(
        "a write failing mid-export leaves the previous file intact and no temporary file",
        arguments: ["npy", "npz", "pth", "safetensors", "onnx", "alexnet"])
    func failedExport(format: String) throws {
        let directory = FixturePaths.temporaryDirectory("dataloss")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = TinyModels.model(Presets.named("caffe-alexnet")!)
        let exporter = try FormatRegistry.exporter(for: format)
        let output = directory + "/model" + exporter.fileExtension(for: format)
        FileManager.default.createFile(atPath: output, contents: Data(Self.previous))
        for failAfter in [0, 100, 5000] {
            let request = ExportRequest(format: format, output: output, force: true)
            #expect(throws: IOError.self, "\(format): failure after \(failAfter) bytes was not reported") {
                try AtomicFileWriter.$injectedFailureAfterBytes.withValue(failAfter) {
                    try Conversion.export(model, inputPath: directory + "/source.npy", request: request)
                }
            }
            #expect(
                FileManager.default.contents(atPath: output).map { [UInt8]($0) } == Self.previous,
                "\(format): the previous file changed after a failed export")
            #expect(temporaryFiles(in: directory).isEmpty, "\(format): temporary files left: \(temporaryFiles(in: directory))")
        }
        // Without the failure the same export replaces the file.
        try Conversion.export(model, inputPath: directory + "/source.npy", request: ExportRequest(format: format, output: output, force: true))
        #expect(FileManager.default.contents(atPath: output).map { [UInt8]($0) } != Self.previous)
        #expect(temporaryFiles(in: directory).isEmpty)
    }

    @Test("an existing output is refused without --force and left untouched")
    func existingOutputNeedsForce() throws {
        let directory = FixturePaths.temporaryDirectory("dataloss")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/model.pth"
        FileManager.default.createFile(atPath: output, contents: Data(Self.previous))
        let model = TinyModels.model(Presets.named("torchvision")!)
        do {
            try Conversion.export(model, inputPath: directory + "/in.npy", request: ExportRequest(format: "pth", output: output))
            Issue.record("an existing output was overwritten without --force")
        } catch let error as UsageError {
            #expect(error.remedy == .allowOverwrite, "\(error)")
        }
        #expect(FileManager.default.contents(atPath: output).map { [UInt8]($0) } == Self.previous)
        #expect(temporaryFiles(in: directory).isEmpty)
    }

    @Test("the input file is never the output, even with --force or through a symlink")
    func inputIsProtected() throws {
        let directory = FixturePaths.temporaryDirectory("dataloss")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = directory + "/model.safetensors"
        let model = TinyModels.model(Presets.named("torchvision")!)
        try CanonicalFile.write(model, to: input)
        let original = FileManager.default.contents(atPath: input)
        try FileManager.default.createSymbolicLink(atPath: directory + "/link.safetensors", withDestinationPath: input)
        for output in [input, directory + "/./model.safetensors", directory + "/link.safetensors"] {
            #expect(throws: UsageError.self, "\(output) overwrote its input") {
                try Conversion.export(model, inputPath: input, request: ExportRequest(format: "safetensors", output: output, force: true))
            }
        }
        #expect(FileManager.default.contents(atPath: input) == original)
    }

    @Test("a failing atomic write body leaves nothing behind")
    func atomicWriterAbort() throws {
        let directory = FixturePaths.temporaryDirectory("dataloss")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/out.bin"
        FileManager.default.createFile(atPath: path, contents: Data(Self.previous))
        struct Interrupted: Error {}
        #expect(throws: Interrupted.self) {
            try writeAtomically(to: path) { file in
                try file.write([UInt8](repeating: 1, count: 1 << 20))
                throw Interrupted()
            }
        }
        #expect(FileManager.default.contents(atPath: path).map { [UInt8]($0) } == Self.previous)
        #expect(temporaryFiles(in: directory).isEmpty)
    }
}

import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvONNX

/// Writes the files Interop/onnx/run.sh checks with onnx.checker and onnxruntime, when
/// ALEXCONV_ONNX_INTEROP_OUT names a directory (the exporter driven without the CLI).
/// Manifest lines: `forward <name> <canonical file> <exported onnx>` for every canonical fixture in
/// Fixtures/forward, and `reexport <name> <source onnx> <exported onnx>` for each ONNX fixture
/// imported and exported again.
@Suite struct ONNXInteropFiles {
    static let outputDirectory = ProcessInfo.processInfo.environment["ALEXCONV_ONNX_INTEROP_OUT"]

    @Test(.enabled(if: outputDirectory != nil))
    func writesONNXInteropFiles() throws {
        let out = try #require(Self.outputDirectory)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var manifest: [String] = []
        for name in ONNXForwardFixtureTests.names {
            let canonical = FixturePaths.path("forward/\(name).alexnet.safetensors")
            let path = "\(out)/\(name).onnx"
            try ONNXExporter.export(try CanonicalFile.read(path: canonical), format: "onnx", to: path, options: ExportOptions())
            manifest.append("forward \(name) \(canonical) \(path)")
        }
        for name in ONNXImportTests.fixtures {
            let source = FixturePaths.path("onnx/\(name).onnx")
            let path = "\(out)/reexport_\(name).onnx"
            try ONNXExporter.export(try model(from: try ONNXReader.read(path: source)), format: "onnx", to: path, options: ExportOptions())
            manifest.append("reexport \(name) \(source) \(path)")
        }
        try (manifest.joined(separator: "\n") + "\n").write(toFile: "\(out)/manifest.txt", atomically: true, encoding: .utf8)
    }
}

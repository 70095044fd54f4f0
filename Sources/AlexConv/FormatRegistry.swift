import AlexConvCaffe
import AlexConvKeras
import AlexConvNumPy
import AlexConvONNX
import AlexConvTensorFlow
import AlexConvTorch
import Foundation

/// Every format alexconv reads and writes, in one place. Adding a format = one reader + one
/// exporter registered here.
public enum FormatRegistry {
    /// Readers, tried in order on the file's first bytes and name.
    nonisolated(unsafe) package static let readers: [any WeightFileReader.Type] = [
        NumPyReader.self,  // \x93NUMPY magic
        SafetensorsReader.self,  // u64 header length + '{'
        NPZReader.self,  // zip named .npz
        KerasArchiveReader.self,  // zip named .keras
        TorchArchiveReader.self,  // torch zip (data.pkl) or legacy pickle magic
        KerasH5Reader.self,  // HDF5 signature
        TensorFlowCheckpointReader.self,  // by name: .index, .data-NNNNN-of-NNNNN, checkpoint; claims prefixes and SavedModel dirs
        ONNXReader.self,  // protobuf ModelProto (.onnx, or ir_version first)
        CaffeReader.self,  // binary NetParameter named .caffemodel (+ prototxt, mean file)
    ]

    /// Exporters by `--format` name.
    nonisolated(unsafe) package static let exporters: [any ModelExporter.Type] = [
        NumPyExporter.self,  // npy, npz
        TorchExporter.self,  // pth
        KerasExporter.self,  // h5, weights.h5, keras
        ONNXExporter.self,  // onnx
        CaffeExporter.self,  // caffemodel (+ prototxt)
        SafetensorsExporter.self,  // safetensors, alexnet (the canonical file)
        TensorFlowCheckpointExporter.self,  // tf-checkpoint
    ]

    /// The format names `ExportRequest.format` accepts (`npy`, `pth`, `weights.h5`, ...), in a stable order.
    public static var exportFormats: [String] { exporters.flatMap { $0.formats } }

    /// The exporter for `format`, or a usage error listing the formats.
    package static func exporter(for format: String) throws -> any ModelExporter.Type {
        let key = format.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        guard let exporter = exporters.first(where: { $0.formats.contains(key) }) else {
            throw UsageError("unknown format '\(format)' (expected one of: \(exportFormats.joined(separator: ", ")))")
        }
        return exporter
    }

    /// Every (format, file extension) pair the exporters write, extensions lower-cased.
    static var extensionsByFormat: [(format: String, fileExtension: String)] {
        exporters.flatMap { e in e.formats.map { ($0, e.fileExtension(for: $0).lowercased()) } }
    }

    /// The file extensions the exporters write (`.npy`, `.weights.h5`, `.alexnet.safetensors`, ...).
    package static var fileExtensions: [String] { extensionsByFormat.map(\.fileExtension) }

    /// The format whose file extension ends `path` (`.weights.h5` before `.h5`), if any.
    package static func format(forOutputPath path: String) -> String? {
        let lower = path.lowercased()
        return extensionsByFormat.filter { lower.hasSuffix($0.fileExtension) }.max { $0.fileExtension.count < $1.fileExtension.count }?.format
    }

    /// The tensor namings `format` accepts (`ExportRequest.naming`; empty: it has one naming).
    public static func namings(for format: String) -> [String] {
        (try? exporter(for: format))?.namings(for: format) ?? []
    }

    /// The tensors of `path` as the file stores them (its names, its layout, no recognition), read by
    /// the first reader that recognises its first bytes and name, or that claims a directory or prefix.
    public static func read(path: String, options: ReaderOptions = ReaderOptions()) throws -> TensorBundle {
        let reader = try reader(for: path)
        return try AllocationBudget.withImportBudget {
            try withFileContext(path) {
                let bundle = try reader.read(path: path, options: options)
                try ImportLimits.check(bundle)
                return bundle
            }
        }
    }

    /// Every file reading `path` with `options` uses, `path` first (a checkpoint's index, shards and
    /// state file; a caffemodel's prototxt and mean), for input protection.
    public static func inputFiles(of path: String, options: ReaderOptions = ReaderOptions()) -> [String] {
        (try? reader(for: path))?.inputFiles(path: path, options: options) ?? [path] + options.files
    }

    /// The reader for `path`, or an error naming what alexconv reads.
    package static func reader(for path: String) throws -> any WeightFileReader.Type {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if !exists || isDirectory.boolValue {
            if let reader = readers.first(where: { $0.claims(path: path, isDirectory: isDirectory.boolValue) }) { return reader }
            if !exists { throw IOError(path: path, "no such file") }
            throw IOError(path: path, "is a directory that no reader claims, expected a weight file (alexconv reads \(readers.map { $0.formatName }.joined(separator: ", ")))")
        }
        var info = stat()
        if stat(path, &info) == 0 { try requireRegularFile(path, mode: info.st_mode) }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw IOError(path: path, "cannot open for reading") }
        let prefix = (try? handle.read(upToCount: 4096)) ?? Data()
        try? handle.close()
        let reader = prefix.withUnsafeBytes { bytes in readers.first { $0.matches(path: path, prefix: bytes) } }
        guard let reader else {
            throw FormatError(
                .unsupported, file: path,
                "unrecognised format (first bytes \(prefix.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " "))); alexconv reads \(readers.map { $0.formatName }.joined(separator: ", "))"
            )
        }
        return reader
    }
}

import AlexConvCore
import Foundation

/// Reads an ONNX model (`.onnx`) into a `TensorBundle` whose tensors already have canonical names
/// and channels-first layout: conv `convK.weight` (out, in/groups, kh, kw), dense `fcK.weight`
/// (out, in) with fc(N+1)'s input in (C, H, W) order, BN `bnK.*` (C). The bundle's `spec` is the
/// layer chain built from the graph, or the `alexconv.spec` recorded in `metadata_props` when the
/// graph agrees with it.
public enum ONNXReader: WeightFileReader {
    public static let formatName = "onnx"

    /// `.onnx` files, or files that start like a serialized ModelProto (ir_version varint, then
    /// another ModelProto field).
    public static func matches(path: String, prefix: UnsafeRawBufferPointer) -> Bool {
        if path.lowercased().hasSuffix(".onnx") { return true }
        guard prefix.count >= 3 else { return false }
        // Field 1 (ir_version) varint: tag 0x08, a small version, then the tag of field 2..8 (length-delimited or varint).
        let nextTags: Set<UInt8> = [0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42]
        return prefix[0] == 0x08 && (1...15).contains(prefix[1]) && nextTags.contains(prefix[2])
    }

    /// Reads the file at `path` (memory-mapped while decoding).
    public static func read(path: String) throws -> TensorBundle {
        let storage = try ByteStorage.map(path: path)
        return try withFileContext(path) { try read(bytes: storage.bytes, path: path) }
    }

    /// Reads ONNX bytes already in memory; `path` names them in errors and in the bundle.
    public static func read(bytes: UnsafeRawBufferPointer, path: String = "<memory>") throws -> TensorBundle {
        let model = try ONNXProtobuf.decodeModel(bytes)
        var importer = try ONNXGraphImporter(model: model)
        let result = try importer.run()

        var metadata: [String: String] = [
            "onnx.ir_version": "\(model.irVersion)",
            "onnx.opset": "\(importer.opset)",
        ]
        if !model.producerName.isEmpty {
            metadata["onnx.producer"] = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        }
        if !model.graph.name.isEmpty { metadata["onnx.graph"] = model.graph.name }
        // metadata_props are kept, except the spec: it is the bundle's `spec` (and a canonical-file key).
        for entry in model.metadataProps where entry.key != CanonicalFile.specKey {
            metadata[entry.key] = entry.value
        }
        let producer = metadata["onnx.producer"].map { ", producer \($0)" } ?? ""
        return TensorBundle(
            path: path,
            format: "onnx (IR \(model.irVersion), opset \(importer.opset)\(producer))",
            tensors: result.tensors,
            layout: .channelsFirst,
            spec: result.spec,
            metadata: metadata,
            notes: result.notes,
            layerHints: result.hints)
    }
}

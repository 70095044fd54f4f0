import Foundation

/// The safetensors format: u64 LE header length N, N bytes of JSON, then the data buffer.
public enum Safetensors {
    /// Largest header accepted, as the reference implementation (safetensors/src/tensor.rs).
    public static let maxHeaderBytes = 100_000_000

    /// How often `needle` occurs in `bytes` (no overlap; a cheap count before an expensive parse).
    static func occurrences(of needle: String, in bytes: UnsafeRawBufferPointer) -> Int {
        let pattern = Array(needle.utf8)
        guard let first = pattern.first, bytes.count >= pattern.count else { return 0 }
        var count = 0
        var i = 0
        let last = bytes.count - pattern.count
        while i <= last {
            if bytes[i] == first, (1..<pattern.count).allSatisfy({ bytes[i + $0] == pattern[$0] }) {
                count += 1
                i += pattern.count
            } else {
                i += 1
            }
        }
        return count
    }

    /// True when `prefix` (the first bytes of a file) looks like safetensors.
    public static func looksLike(_ prefix: UnsafeRawBufferPointer) -> Bool {
        let header = ByteCursor(prefix, label: "safetensors header")
        guard prefix.count >= 9, let n = try? header.integer(UInt64.self, at: 0, what: "header length") else { return false }
        // A header over the limit still says "safetensors" (read then refuses it by its size).
        return n >= 2 && prefix[8] == UInt8(ascii: "{")
    }

    /// Reads `path` (memory-mapped; tensors view the map). Tensors come in data-offset order.
    public static func read(path: String) throws -> TensorBundle {
        let storage = try ByteStorage.map(path: path)
        return try withFileContext(path) { try read(storage: storage, path: path) }
    }

    /// Parses safetensors bytes held by `storage`.
    public static func read(storage: ByteStorage, path: String = "<memory>") throws -> TensorBundle {
        let reader = ByteCursor(storage.bytes, label: "safetensors header")
        let headerLength = try reader.integer(UInt64.self, at: 0, what: "header length")
        guard headerLength <= UInt64(maxHeaderBytes) else {
            throw FormatError(.limit, "safetensors header length \(headerLength) exceeds the limit \(maxHeaderBytes)")
        }
        let n = Int(headerLength)
        let headerBytes = try reader.slice(at: 8, count: n, what: "header")
        // Each parsed entry costs kilobytes: count them on the raw bytes before parsing.
        try ImportLimits.checkTensorCount(occurrences(of: "\"data_offsets\"", in: headerBytes), what: "tensors in its header")
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            throw FormatError(.malformed, "safetensors header is not valid JSON")
        }
        guard let header = object as? [String: Any] else { throw FormatError(.malformed, "safetensors header is not a JSON object") }
        // JSONSerialization keeps the last of duplicate keys silently; the reference reader rejects them.
        if let duplicate = duplicateTopLevelKey(headerBytes) {
            throw FormatError(.corrupted, location: "tensor '\(duplicate)'", "named twice in the safetensors header")
        }
        let dataStart = 8 + n
        let bufferLength = storage.bytes.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [(name: String, begin: Int, end: Int, tensor: Tensor)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let dict = value as? [String: Any] else { throw FormatError(.malformed, location: name, "must be an object of strings") }
                for (k, v) in dict {
                    guard let s = v as? String else { throw FormatError(.malformed, location: "__metadata__.\(k)", "must be a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any],
                let dtypeName = info["dtype"] as? String,
                let shapeAny = info["shape"] as? [Any],
                let offsetsAny = info["data_offsets"] as? [Any], offsetsAny.count == 2
            else {
                throw FormatError(.malformed, location: "tensor '\(name)'", "needs dtype, shape and data_offsets [begin, end]")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw FormatError(.unsupported, location: "tensor '\(name)'", "unsupported dtype '\(dtypeName)' (expected one of \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let shape = try shapeAny.map { item -> Int in
                guard let number = item as? NSNumber, Double(number.int64Value) == number.doubleValue, number.int64Value >= 0 else {
                    throw FormatError(.malformed, location: "tensor '\(name)'", "shape must hold non-negative integers")
                }
                return number.intValue
            }
            let offsets = try offsetsAny.map { item -> Int in
                guard let number = item as? NSNumber, number.int64Value >= 0 else {
                    throw FormatError(.malformed, location: "tensor '\(name)'", "data_offsets must be non-negative integers")
                }
                return number.intValue
            }
            let count = try checkedElementCount(shape, what: "tensor '\(name)'")
            let bytes = try checkedMultiply(count, dtype.size, what: "tensor '\(name)'")
            guard offsets[0] <= offsets[1], offsets[1] <= bufferLength else {
                throw FormatError(.malformed, location: "tensor '\(name)'", "data_offsets \(offsets) outside the data buffer of \(bufferLength) bytes")
            }
            guard offsets[1] - offsets[0] == bytes else {
                throw FormatError(.malformed, location: "tensor '\(name)'", "data_offsets span \(offsets[1] - offsets[0]) bytes, shape \(shape) of \(dtypeName) needs \(bytes)")
            }
            let tensor = try Tensor(storage: storage, byteOffset: dataStart + offsets[0], dtype: dtype, shape: shape, name: name)
            entries.append((name, offsets[0], offsets[1], tensor))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expectedBegin = 0
        for entry in entries {
            if entry.begin != expectedBegin {
                throw FormatError(
                    .corrupted, location: "tensor '\(entry.name)'",
                    entry.begin < expectedBegin ? "data overlaps the previous tensor" : "hole in the data buffer before this tensor")
            }
            expectedBegin = entry.end
        }
        if expectedBegin != bufferLength {
            throw FormatError(.malformed, "data buffer has \(bufferLength - expectedBegin) bytes after the last tensor")
        }
        return TensorBundle(
            path: path, format: "safetensors",
            tensors: entries.map { NamedTensor($0.name, $0.tensor) }, metadata: metadata)
    }

    /// Writes `tensors` (converted to `dtype` when given) with `metadata`, atomically.
    /// Order and padding follow the reference writer: dtype size descending, then name; JSON
    /// padded with spaces to a multiple of 8.
    public static func write(
        _ tensors: [NamedTensor], metadata: [String: String] = [:], dtype: DType? = nil,
        to path: String, overwrite: Bool = true
    ) throws {
        var seen = Set<String>()
        for t in tensors where !seen.insert(t.name).inserted {
            throw ModelError(tensor: t.name, "appears twice; safetensors names must be unique")
        }
        let ordered = tensors.map { ($0.name, $0.tensor, dtype ?? $0.tensor.dtype) }
            .sorted { ($0.2.size, $1.0) > ($1.2.size, $0.0) }
        var json = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        var offset = 0
        for (name, tensor, type) in ordered {
            let end = offset + tensor.count * type.size
            parts.append("\(jsonString(name)):{\"dtype\":\"\(type.rawValue)\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        json += parts.joined(separator: ",") + "}"
        var header = Array(json.utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        try writeAtomically(to: path, overwrite: overwrite) { file in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try file.write($0) }
            try file.write(header)
            for (_, tensor, type) in ordered {
                try tensor.forEachChunk(as: type) { try file.write($0) }
            }
        }
    }
}

/// The first top-level key that appears twice in a JSON object's bytes, if any (a small scanner
/// over keys at depth 1; the JSON is already known to be valid).
func duplicateTopLevelKey(_ bytes: UnsafeRawBufferPointer) -> String? {
    var depth = 0
    var seen = Set<String>()
    var i = 0
    var expectKey = false
    while i < bytes.count {
        let c = bytes[i]
        switch c {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            depth += 1
            expectKey = depth == 1 && c == UInt8(ascii: "{")
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            depth -= 1
        case UInt8(ascii: ","):
            if depth == 1 { expectKey = true }
        case UInt8(ascii: "\""):
            // Scan the string, honouring escapes.
            var j = i + 1
            var raw: [UInt8] = []
            while j < bytes.count && bytes[j] != UInt8(ascii: "\"") {
                if bytes[j] == UInt8(ascii: "\\") {
                    raw.append(bytes[j])
                    j += 1
                }
                if j < bytes.count { raw.append(bytes[j]) }
                j += 1
            }
            if depth == 1 && expectKey {
                let key =
                    (try? JSONSerialization.jsonObject(
                        with: Data([UInt8(ascii: "\"")] + raw + [UInt8(ascii: "\"")]),
                        options: [.fragmentsAllowed]) as? String) ?? String(decoding: raw, as: UTF8.self)
                if !seen.insert(key).inserted { return key }
                expectKey = false
            }
            i = j
        default:
            break
        }
        i += 1
    }
    return nil
}

/// A JSON string literal for `s`.
public func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                out += String(format: "\\u%04x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

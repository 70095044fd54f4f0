import AlexConvCore
import Foundation
import SwiftProtobuf

/// A blob of a caffemodel or binaryproto: its shape fields, decoded, and its values as a flat tensor
/// that views the memory map when they are one packed run (as Caffe, OpenCV and Python protobuf
/// write them), or a gathered copy when the file spreads them over several fields.
struct CaffeBlob {
    /// The BlobProto without its data, diff, double_data and double_diff fields.
    var header: Caffe_BlobProto
    /// The values in file order: float32 from `data`, or float64 from `double_data` (exact).
    var values: Tensor
    /// Notes about the blob (both float and double values present, ...).
    var notes: [String] = []

    /// The dimensions Caffe gives the blob: the legacy num/channels/height/width when any of them is
    /// set (V1 files, fc weights then read (1, 1, out, in)), else `shape.dim`.
    func dims(what: String) throws -> [Int] {
        if header.hasNum || header.hasChannels || header.hasHeight || header.hasWidth {
            let legacy = [header.num, header.channels, header.height, header.width]
            guard legacy.allSatisfy({ $0 >= 0 }) else {
                throw FormatError(.malformed, location: what, "negative legacy dimension in num/channels/height/width \(legacy)")
            }
            return legacy.map { Int($0) }
        }
        let dims = header.shape.dim
        guard dims.count <= CaffeLimits.maxBlobAxes else {
            throw FormatError(.limit, location: what, "has \(dims.count) axes, more than Caffe's \(CaffeLimits.maxBlobAxes)")
        }
        var result: [Int] = []
        for dim in dims {
            guard dim >= 0, dim <= Int64(Int32.max) else {
                throw FormatError(.malformed, location: what, "dimension \(dim) in shape \(dims) is outside 0...\(Int32.max)")
            }
            result.append(Int(dim))
        }
        return result
    }

    /// The values with the blob's own dimensions, checked against the number of values it holds.
    func tensor(what: String) throws -> Tensor {
        let dims = try dims(what: what)
        let count = try checkedElementCount(dims, what: what)
        guard count == values.count else {
            throw FormatError(
                .corrupted, location: what,
                "shape \(dims) needs \(count) values, the blob holds \(values.count)")
        }
        return values.reshaped(dims)
    }
}

/// A caffemodel scanned on its memory map: the `NetParameter` decoded by swift-protobuf without any
/// blob values (they are removed before decoding), and each layer's blobs as views of the file.
struct CaffeNetFile {
    var net: Caffe_NetParameter
    /// Blobs of `net.layer[i]` (current format).
    var layerBlobs: [[CaffeBlob]]
    /// Blobs of `net.layers[i]` (V1 format).
    var v1LayerBlobs: [[CaffeBlob]]
    /// The raw `type` enum number of each V1 layer (nil when absent), for types caffe.proto lacks.
    var v1TypeNumbers: [UInt64?]

    // Field numbers of caffe.proto used while scanning.
    enum Field {
        static let netLayer = 100, netV1Layers = 2
        static let layerBlobs = 7
        static let v1Blobs = 6, v1Type = 5, v1Name = 4, v1V0Layer = 1
        static let layerName = 1
        static let blobData = 5, blobDiff = 6, blobDoubleData = 8, blobDoubleDiff = 9
    }

    /// Scans and decodes the caffemodel in `storage` (errors name `file`).
    static func read(_ storage: ByteStorage, file: String?) throws -> CaffeNetFile {
        guard storage.bytes.count > 0 else { throw FormatError(.truncated, file: file, "empty file: not a caffemodel") }
        var scanner = WireScanner(ByteCursor(storage.bytes, file: file, label: "NetParameter"), what: "NetParameter")
        var stripped: [UInt8] = []
        var layerBlobs: [[CaffeBlob]] = []
        var v1LayerBlobs: [[CaffeBlob]] = []
        var v1TypeNumbers: [UInt64?] = []
        while let field = try scanner.next() {
            switch field.number {
            case Field.netLayer, Field.netV1Layers:
                let v1 = field.number == Field.netV1Layers
                let index = v1 ? v1LayerBlobs.count : layerBlobs.count
                guard layerBlobs.count + v1LayerBlobs.count < CaffeLimits.maxLayers else {
                    throw scanner.error(.limit, "more than \(CaffeLimits.maxLayers) layers")
                }
                guard field.wireType == .lengthDelimited else {
                    throw scanner.error(.malformed, "\(v1 ? "layers (field 2)" : "layer (field 100)") \(index) has wire type \(field.wireType.rawValue), expected 2 (a message)")
                }
                let layer = try scanLayer(
                    try scanner.nested(field, what: "\(v1 ? "layers" : "layer") \(index)"),
                    v1: v1, index: index, storage: storage)
                appendLengthDelimited(field.number, layer.stripped, to: &stripped)
                if v1 {
                    v1LayerBlobs.append(layer.blobs)
                    v1TypeNumbers.append(layer.v1Type)
                } else {
                    layerBlobs.append(layer.blobs)
                }
            default:
                stripped += scanner.bytes(field.field)
            }
        }
        let net = try decode(Caffe_NetParameter.self, stripped, what: "NetParameter", file: file)
        guard net.layer.count == layerBlobs.count, net.layers.count == v1LayerBlobs.count else {
            throw FormatError(.malformed, file: file, "NetParameter: the decoded layers do not match the scanned ones")
        }
        return CaffeNetFile(net: net, layerBlobs: layerBlobs, v1LayerBlobs: v1LayerBlobs, v1TypeNumbers: v1TypeNumbers)
    }

    /// Decodes a small message (parameters only) with swift-protobuf; malformed bytes are a `FormatError`.
    static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, _ bytes: [UInt8], what: String, file: String?) throws -> M {
        do {
            return try M(serializedBytes: bytes)
        } catch let error as BinaryDecodingError {
            throw FormatError(.malformed, file: file, location: what, "not a valid \(M.protoMessageName) protobuf: \(describe(error))")
        } catch {
            throw FormatError(.malformed, file: file, location: what, "not a valid \(M.protoMessageName) protobuf: \(error)")
        }
    }

    static func describe(_ error: BinaryDecodingError) -> String {
        switch error {
        case .truncated: return "truncated (a field runs past the end of its message)"
        case .malformedProtobuf: return "malformed protobuf (bad field tag, wire type or length)"
        case .invalidUTF8: return "a string field is not valid UTF-8"
        case .trailingGarbage: return "unexpected bytes after the message"
        case .missingRequiredFields: return "required fields missing"
        case .messageDepthLimit: return "messages nested deeper than the decoder allows"
        default: return "\(error)"
        }
    }

    /// One layer message: its bytes without the blob fields, its blobs, and (V1) its raw type number.
    private static func scanLayer(_ scanner: WireScanner, v1: Bool, index: Int, storage: ByteStorage) throws
        -> (stripped: [UInt8], blobs: [CaffeBlob], v1Type: UInt64?)
    {
        var scanner = scanner
        var stripped: [UInt8] = []
        var blobs: [CaffeBlob] = []
        var name: String?
        var v1Type: UInt64?
        let blobField = v1 ? Field.v1Blobs : Field.layerBlobs
        let nameField = v1 ? Field.v1Name : Field.layerName
        func label() -> String {
            "\(v1 ? "layers" : "layer") \(index)" + (name.map { " ('\(oneLine($0))')" } ?? "")
        }
        while let field = try scanner.next() {
            if field.number == blobField {
                guard field.wireType == .lengthDelimited else {
                    throw scanner.error(.malformed, "blobs field \(blobField) has wire type \(field.wireType.rawValue), expected 2 (a BlobProto)")
                }
                guard blobs.count < CaffeLimits.maxBlobsPerLayer else {
                    throw FormatError(.limit, location: label(), "more than \(CaffeLimits.maxBlobsPerLayer) blobs")
                }
                let what = "\(label()) blob \(blobs.count)"
                blobs.append(try scanBlob(try scanner.nested(field, what: what), storage: storage))
                continue
            }
            if v1 && field.number == Field.v1V0Layer {
                throw FormatError(
                    .unsupported, location: label(),
                    "holds a V0 layer (field 1, the pre-2014 format); alexconv reads V1 `layers` and current `layer` nets (upgrade the file with Caffe's upgrade_net_proto_binary)")
            }
            if field.number == nameField && field.wireType == .lengthDelimited {
                name = String(decoding: scanner.bytes(field.payload), as: UTF8.self)
            }
            if v1 && field.number == Field.v1Type && field.wireType == .varint { v1Type = field.value }
            stripped += scanner.bytes(field.field)
        }
        return (stripped, blobs, v1Type)
    }

    /// Scans a BlobProto: values located (packed runs or single elements), the rest decoded.
    static func scanBlob(_ scanner: WireScanner, storage: ByteStorage) throws -> CaffeBlob {
        var first = scanner
        var header: [UInt8] = []
        var floats = ValueRuns(elementSize: 4)
        var doubles = ValueRuns(elementSize: 8)
        while let field = try first.next() {
            switch field.number {
            case Field.blobData:
                try floats.add(field, packed: .lengthDelimited, single: .fixed32, base: scanner.base, scanner: scanner, name: "data (field 5)")
            case Field.blobDoubleData:
                try doubles.add(field, packed: .lengthDelimited, single: .fixed64, base: scanner.base, scanner: scanner, name: "double_data (field 8)")
            case Field.blobDiff, Field.blobDoubleDiff:
                continue  // gradients: not needed, never copied
            default:
                header += scanner.bytes(field.field)
            }
        }
        let decoded = try decode(Caffe_BlobProto.self, header, what: scanner.what, file: nil)
        // Caffe's Blob::FromProto: double_data when it has any, else data.
        let runs = doubles.count > 0 ? doubles : floats
        var blob = CaffeBlob(
            header: decoded,
            values: try runs.tensor(
                scanner: scanner, storage: storage,
                field: doubles.count > 0 ? Field.blobDoubleData : Field.blobData))
        if doubles.count > 0 && floats.count > 0 {
            blob.notes.append("\(scanner.what) holds both data and double_data; double_data used, as Caffe does")
        }
        return blob
    }
}

/// Where the values of one repeated float/double field lie: the number of values, and the one packed
/// run that holds them all when there is one (then they are viewed in place).
private struct ValueRuns {
    let elementSize: Int
    var count = 0
    /// Fields (packed runs or single elements) seen.
    var pieces = 0
    /// Byte range in the file of the first packed run.
    var firstPackedRun: Range<Int>?

    init(elementSize: Int) { self.elementSize = elementSize }

    mutating func add(
        _ field: WireField, packed: WireField.WireType, single: WireField.WireType,
        base: Int, scanner: WireScanner, name: String
    ) throws {
        if field.wireType == packed {
            guard field.payload.count % elementSize == 0 else {
                throw scanner.error(.malformed, "packed \(name) holds \(field.payload.count) bytes, not a multiple of \(elementSize)")
            }
            if field.payload.isEmpty { return }
            count += field.payload.count / elementSize
            if pieces == 0 { firstPackedRun = (base + field.payload.lowerBound)..<(base + field.payload.upperBound) }
        } else if field.wireType == single {
            count += 1
        } else {
            throw scanner.error(.malformed, "\(name) has wire type \(field.wireType.rawValue), expected \(packed.rawValue) (packed) or \(single.rawValue)")
        }
        pieces += 1
    }

    /// A flat tensor of the values: a view of the file for one packed run, else a copy gathered by
    /// scanning the blob's fields again (nothing per field is kept, so many tiny fields cost nothing).
    func tensor(scanner: WireScanner, storage: ByteStorage, field number: Int) throws -> Tensor {
        let dtype: DType = elementSize == 4 ? .float32 : .float64
        if count == 0 { return Tensor.zeros([0], dtype: dtype) }
        if pieces == 1, let run = firstPackedRun {
            return try Tensor(storage: storage, byteOffset: run.lowerBound, dtype: dtype, shape: [count], name: scanner.what)
        }
        let bytes = try checkedMultiply(count, elementSize, what: scanner.what)
        try AllocationBudget.charge(bytes, what: "\(scanner.what) values spread over several fields")
        let (copy, buffer) = ByteStorage.zeroed(count: bytes)
        var offset = 0
        var rescan = scanner
        while let field = try rescan.next() {
            guard field.number == number else { continue }
            let payload = rescan.bytes(field.payload)
            guard offset + payload.count <= bytes else { break }
            buffer.baseAddress!.advanced(by: offset).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
            offset += payload.count
        }
        return try Tensor(storage: copy, dtype: dtype, shape: [count], name: scanner.what)
    }
}

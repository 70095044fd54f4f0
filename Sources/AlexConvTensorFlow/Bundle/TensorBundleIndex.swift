import AlexConvCore
import Foundation
import SwiftProtobuf

/// The decoded `.index` of a tensor bundle (tensorflow/core/util/tensor_bundle): the header under
/// the key "" (`BundleHeaderProto`: shard count, endianness, format version) and one
/// `BundleEntryProto` per tensor (dtype, shape, shard, offset, size, masked CRC-32C, slices).
/// Slices of partitioned variables are keyed by an ordered code of name and extents (`SliceKey`).
struct TensorBundleIndex {
    /// One tensor entry under its name.
    struct Entry {
        var name: String
        var proto: Tensorflow_BundleEntryProto
    }

    /// Versions of the bundle format this reader understands (TensorFlow's `kTensorBundleVersion`).
    static let bundleVersion: Int32 = 1
    /// Key of the header entry.
    static let headerKey: [UInt8] = []

    let header: Tensorflow_BundleHeaderProto
    /// Tensor entries in key order (slice entries excluded).
    let entries: [Entry]
    /// Slice entries by their key bytes.
    let slices: [[UInt8]: Tensorflow_BundleEntryProto]
    /// The index file, for messages.
    let file: String?

    var shardCount: Int { Int(header.numShards) }

    /// Decodes the table in `bytes` (a whole `.index` file).
    init(bytes: UnsafeRawBufferPointer, file: String?) throws {
        self.file = file
        let table = try LevelDBTable(bytes: bytes, file: file)
        guard let first = table.entries.first, first.key == Self.headerKey else {
            throw FormatError(
                .malformed, file: file, location: "header entry",
                "the first key is \(table.entries.first.map { LevelDBTable.describe($0.key) } ?? "missing (empty table)"), expected the bundle header under the empty key")
        }
        let header: Tensorflow_BundleHeaderProto
        do {
            header = try Tensorflow_BundleHeaderProto(serializedBytes: Array(first.value))
        } catch {
            throw FormatError(.malformed, file: file, location: "header entry", "not a BundleHeaderProto (\(error))")
        }
        try Self.check(header, file: file)
        self.header = header

        var entries: [Entry] = []
        var slices: [[UInt8]: Tensorflow_BundleEntryProto] = [:]
        for item in table.entries.dropFirst() {
            let isSlice = item.key.first == 0
            let location = isSlice ? "slice entry \(LevelDBTable.describe(item.key))" : LevelDBTable.describe(item.key)
            let proto: Tensorflow_BundleEntryProto
            do {
                proto = try Tensorflow_BundleEntryProto(serializedBytes: Array(item.value))
            } catch {
                throw FormatError(.malformed, file: file, location: location, "not a BundleEntryProto (\(error))")
            }
            if isSlice {
                slices[item.key] = proto
                continue
            }
            guard let name = String(validating: item.key, as: UTF8.self) else {
                throw FormatError(.malformed, file: file, location: location, "tensor name is not UTF-8")
            }
            entries.append(Entry(name: name, proto: proto))
        }
        self.entries = entries
        self.slices = slices
    }

    /// The header's checks: shard count, little-endian, a format version this reader understands.
    static func check(_ header: Tensorflow_BundleHeaderProto, file: String?) throws {
        guard header.numShards >= 1, Int(header.numShards) <= TensorFlowLimits.maxShards else {
            throw FormatError(
                header.numShards < 1 ? .malformed : .limit, file: file, location: "header entry",
                "num_shards is \(header.numShards), expected 1...\(TensorFlowLimits.maxShards)")
        }
        switch header.endianness {
        case .little: break
        case .big:
            throw FormatError(
                .unsupported, file: file, location: "header entry",
                "big-endian bundle (written on a big-endian machine); alexconv reads little-endian checkpoints (re-save it with TensorFlow on a little-endian machine)")
        case .UNRECOGNIZED(let value):
            throw FormatError(.malformed, file: file, location: "header entry", "endianness \(value), expected 0 (little) or 1 (big)")
        }
        let version = header.version
        if version.minConsumer > bundleVersion || version.badConsumers.contains(bundleVersion) {
            throw FormatError(
                .unsupported, file: file, location: "header entry",
                "bundle format needs a reader of version \(version.minConsumer) or later\(version.badConsumers.isEmpty ? "" : " (not \(version.badConsumers))"); alexconv reads version \(bundleVersion), as TensorFlow 1.x-2.x writes"
            )
        }
        guard version.producer >= 0 else {
            throw FormatError(.malformed, file: file, location: "header entry", "producer version \(version.producer) is negative")
        }
    }

    /// The shape of `entry` as sizes, checked: known rank of at most `maxRank`, every dimension
    /// non-negative, element count without overflow.
    static func shape(of proto: Tensorflow_BundleEntryProto, name: String, file: String?) throws -> [Int] {
        let shape = proto.shape
        if shape.unknownRank {
            throw FormatError(.malformed, file: file, location: name, "shape has unknown rank; a stored tensor has a known shape")
        }
        guard shape.dim.count <= TensorFlowLimits.maxRank else {
            throw FormatError(.limit, file: file, location: name, "rank \(shape.dim.count) exceeds \(TensorFlowLimits.maxRank)")
        }
        let dims = shape.dim.map(\.size)
        guard dims.allSatisfy({ $0 >= 0 && $0 <= Int64(Int.max) }) else {
            throw FormatError(.malformed, file: file, location: name, "shape \(dims) has an unknown (-1) or negative dimension")
        }
        let sizes = dims.map { Int($0) }
        do {
            _ = try checkedElementCount(sizes, what: "shape \(sizes)")
        } catch let error as FormatError {
            throw FormatError(error.kind, file: file, location: name, error.detail)
        }
        return sizes
    }

    /// `DataFilename`: `PREFIX.data-00000-of-00001`.
    static func shardPath(prefix: String, shard: Int, of count: Int) -> String {
        prefix + String(format: ".data-%05d-of-%05d", shard, count)
    }
}

// MARK: - Element types

/// TensorFlow `DataType`s and alexconv's element types.
enum TensorFlowDType {
    /// The element type of a numeric TensorFlow dtype alexconv reads; nil for strings, resources,
    /// variants, complex, quantized, unsigned 16-64 bit, 8/4/2-bit types.
    static func dtype(_ type: Tensorflow_DataType) -> DType? {
        switch type {
        case .dtFloat: return .float32
        case .dtDouble: return .float64
        case .dtHalf: return .float16
        case .dtBfloat16: return .bfloat16
        case .dtInt64: return .int64
        case .dtInt32: return .int32
        case .dtInt16: return .int16
        case .dtInt8: return .int8
        case .dtUint8: return .uint8
        case .dtBool: return .bool
        default: return nil
        }
    }

    /// The TensorFlow dtype written for `dtype`.
    static func tensorflow(_ dtype: DType) -> Tensorflow_DataType {
        switch dtype {
        case .float32: return .dtFloat
        case .float64: return .dtDouble
        case .float16: return .dtHalf
        case .bfloat16: return .dtBfloat16
        case .int64: return .dtInt64
        case .int32: return .dtInt32
        case .int16: return .dtInt16
        case .int8: return .dtInt8
        case .uint8: return .dtUint8
        case .bool: return .dtBool
        }
    }

    /// TensorFlow's spelling of a dtype (`DT_FLOAT`, `DT_STRING`, `DT_RESOURCE`, ...).
    static func name(_ type: Tensorflow_DataType) -> String {
        switch type {
        case .dtInvalid: return "DT_INVALID"
        case .dtFloat: return "DT_FLOAT"
        case .dtDouble: return "DT_DOUBLE"
        case .dtInt32: return "DT_INT32"
        case .dtUint8: return "DT_UINT8"
        case .dtInt16: return "DT_INT16"
        case .dtInt8: return "DT_INT8"
        case .dtString: return "DT_STRING"
        case .dtComplex64: return "DT_COMPLEX64"
        case .dtInt64: return "DT_INT64"
        case .dtBool: return "DT_BOOL"
        case .dtBfloat16: return "DT_BFLOAT16"
        case .dtHalf: return "DT_HALF"
        case .dtResource: return "DT_RESOURCE"
        case .dtVariant: return "DT_VARIANT"
        case .dtComplex128: return "DT_COMPLEX128"
        case .UNRECOGNIZED(let n): return "dtype \(n)"
        default: return "DT_\(String(describing: type).dropFirst(2).uppercased())"
        }
    }
}

// MARK: - Slice keys

/// The key TensorFlow files a slice of a partitioned variable under (`EncodeTensorNameSlice` in
/// saved_tensor_slice_util.cc): ordered codes of 0, the name, the rank, then start and length of
/// each dimension (a full extent is start 0, length -1). strings/ordered_code.cc defines the codes.
enum SliceKey {
    /// The key of `name`'s slice with `extents` ((start, length or nil for all) per dimension).
    static func key(name: String, extents: [(start: Int64, length: Int64?)]) -> [UInt8] {
        var out: [UInt8] = []
        writeNumIncreasing(0, into: &out)
        writeString(Array(name.utf8), into: &out)
        writeNumIncreasing(UInt64(extents.count), into: &out)
        for extent in extents {
            writeSignedNumIncreasing(extent.length == nil ? 0 : extent.start, into: &out)
            writeSignedNumIncreasing(extent.length ?? -1, into: &out)
        }
        return out
    }

    /// One length byte, then the value big-endian without leading zero bytes.
    static func writeNumIncreasing(_ value: UInt64, into out: inout [UInt8]) {
        var bytes: [UInt8] = []
        var v = value
        while v > 0 {
            bytes.insert(UInt8(v & 0xFF), at: 0)
            v >>= 8
        }
        out.append(UInt8(bytes.count))
        out += bytes
    }

    /// The bytes with 0x00 escaped as 00 ff and 0xff as ff 00, then the separator 00 01.
    static func writeString(_ bytes: [UInt8], into out: inout [UInt8]) {
        for byte in bytes {
            switch byte {
            case 0x00: out += [0x00, 0xFF]
            case 0xFF: out += [0xFF, 0x00]
            default: out.append(byte)
            }
        }
        out += [0x00, 0x01]
    }

    /// Sign bit, then as many further bits equal to it as bytes follow, then the value (two's
    /// complement, big-endian) in the remaining bits.
    static func writeSignedNumIncreasing(_ value: Int64, into out: inout [UInt8]) {
        let magnitude = UInt64(bitPattern: value < 0 ? ~value : value)
        if magnitude < 64 {
            out.append(0x80 ^ UInt8(truncatingIfNeeded: value))
            return
        }
        let bits = 64 - magnitude.leadingZeroBitCount + 1  // with the sign bit
        let length = min((bits + 6) / 7, 10)  // n bytes hold 7n - 1 payload bits
        let headerBits: [(UInt8, UInt8)] = [
            (0, 0), (0x80, 0), (0xC0, 0), (0xE0, 0), (0xF0, 0), (0xF8, 0), (0xFC, 0),
            (0xFE, 0), (0xFF, 0), (0xFF, 0x80), (0xFF, 0xC0),
        ]
        let sign: UInt8 = value < 0 ? 0xFF : 0x00
        var buffer = [UInt8](repeating: sign, count: 10)
        let raw = UInt64(bitPattern: value)
        for i in 0..<8 { buffer[2 + i] = UInt8(truncatingIfNeeded: raw >> (56 - 8 * UInt64(i))) }
        var encoded = Array(buffer[(10 - length)...])
        encoded[0] ^= headerBits[length].0
        encoded[1] ^= headerBits[length].1
        out += encoded
    }
}

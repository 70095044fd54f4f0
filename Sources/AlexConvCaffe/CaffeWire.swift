import AlexConvCore
import Foundation

/// Limits the Caffe reader enforces on counts that come from a file.
public enum CaffeLimits {
    /// Layers in one net (AlexNet has about 25; the deepest zoo nets a few hundred).
    public static let maxLayers = 100_000
    /// Blobs of one layer (Caffe layers hold at most 3: weights, bias; BatchNorm mean, variance, factor).
    public static let maxBlobsPerLayer = 64
    /// Axes of one blob (Caffe's own `kMaxBlobAxes`).
    public static let maxBlobAxes = 32
    /// Largest prototxt or mean file read into memory (a deploy prototxt is a few kilobytes).
    public static let maxTextBytes = 64 << 20
}

// MARK: - Protobuf wire format, scanned in place

/// One field of a protobuf message found by scanning its bytes: its number, wire type, where the
/// whole field (tag included) and its payload lie in the scanned bytes, and a varint or fixed value.
struct WireField {
    enum WireType: Int {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case startGroup = 3
        case endGroup = 4
        case fixed32 = 5
    }
    var number: Int
    var wireType: WireType
    /// Tag to the end of the payload.
    var field: Range<Int>
    /// The payload: a length-delimited field's bytes, or the varint/fixed bytes.
    var payload: Range<Int>
    /// The value of a varint, fixed32 or fixed64 field (0 for length-delimited ones).
    var value: UInt64
}

/// Reads the fields of a protobuf message one after another without decoding them: the scanner that
/// lets blob data stay in the memory map while the small parameter messages go to swift-protobuf.
/// Every tag, length and payload is bounds-checked through `ByteCursor`; groups (wire types 3, 4,
/// unused by caffe.proto) and unknown wire types are malformed.
struct WireScanner {
    private var cursor: ByteCursor
    /// What is scanned, for messages: "NetParameter", "layer 3 ('conv1')", ...
    let what: String

    init(_ cursor: ByteCursor, what: String) {
        self.cursor = cursor
        self.what = what
    }

    /// The next field, or nil at the end of the bytes.
    mutating func next() throws -> WireField? {
        if cursor.isAtEnd { return nil }
        let start = cursor.offset
        let tag = try cursor.readVarint(what: "field tag in \(what)")
        let number = tag >> 3
        guard number >= 1, number <= (1 << 29) - 1 else {
            throw cursor.error(.malformed, "\(what): field number \(number) at byte \(cursor.base + start) is outside protobuf's 1...\((1 << 29) - 1)")
        }
        guard let wireType = WireField.WireType(rawValue: Int(tag & 7)),
            wireType != .startGroup, wireType != .endGroup
        else {
            throw cursor.error(
                .malformed,
                "\(what): field \(number) at byte \(cursor.base + start) has wire type \(tag & 7), which caffe.proto never uses (expected 0 varint, 1 fixed64, 2 length-delimited or 5 fixed32)")
        }
        let payloadStart: Int
        var value: UInt64 = 0
        switch wireType {
        case .varint:
            payloadStart = cursor.offset
            value = try cursor.readVarint(what: "field \(number) of \(what)")
        case .fixed64:
            payloadStart = cursor.offset
            value = try cursor.read(UInt64.self, what: "fixed64 field \(number) of \(what)")
        case .fixed32:
            payloadStart = cursor.offset
            value = UInt64(try cursor.read(UInt32.self, what: "fixed32 field \(number) of \(what)"))
        case .lengthDelimited:
            let lengthAt = cursor.offset
            let length = try cursor.readVarint(what: "length of field \(number) of \(what)")
            guard length <= UInt64(cursor.remaining) else {
                throw cursor.error(.truncated, "truncated: \(what): field \(number) at byte \(cursor.base + lengthAt) claims \(length) bytes, only \(cursor.remaining) remain")
            }
            payloadStart = cursor.offset
            try cursor.skip(Int(length), what: "field \(number) of \(what)")
        case .startGroup, .endGroup:
            preconditionFailure("groups are refused above")
        }
        return WireField(
            number: Int(number), wireType: wireType, field: start..<cursor.offset,
            payload: payloadStart..<cursor.offset, value: value)
    }

    /// A scanner over the payload of a length-delimited field of these bytes.
    func nested(_ field: WireField, what: String) throws -> WireScanner {
        WireScanner(try cursor.record(at: field.payload.lowerBound, count: field.payload.count, label: cursor.label), what: what)
    }

    /// The bytes of `range` (a view into the scanned bytes).
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: cursor.bytes[range])
    }

    /// Offset of the scanned bytes in the file.
    var base: Int { cursor.base }

    /// A `FormatError` of `kind` naming the file, the scanned message and `detail`.
    func error(_ kind: FormatError.Kind, _ detail: String) -> FormatError {
        cursor.error(kind, "\(what): \(detail)")
    }
}

/// Appends a length-delimited field (tag, varint length, payload) to `output`.
func appendLengthDelimited(_ number: Int, _ payload: [UInt8], to output: inout [UInt8]) {
    Varint.encode(UInt64(number << 3 | WireField.WireType.lengthDelimited.rawValue), into: &output)
    Varint.encode(UInt64(payload.count), into: &output)
    output += payload
}

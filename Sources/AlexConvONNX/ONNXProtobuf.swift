import AlexConvCore
import Foundation
import SwiftProtobuf

/// Limits the ONNX reader enforces on sizes that come from a file.
public enum ONNXLimits {
    /// Protobuf messages cannot exceed 2 GiB; larger ONNX models must use external data.
    public static let maxFileBytes = Int(Int32.max)
    /// Nodes in the main graph (AlexNet has about 25).
    public static let maxNodes = 100_000
    /// Initializers in the main graph.
    public static let maxInitializers = 100_000
    /// Rank of an initializer or of the input.
    public static let maxRank = 8
    /// Largest kernel, stride, padding or spatial size accepted from an attribute or input shape.
    public static let maxExtent = 1 << 20
}

// MARK: - Decoding the model

enum ONNXProtobuf {
    /// Decodes `bytes` as an ONNX ModelProto; malformed or truncated protobuf is a `FormatError`.
    static func decodeModel(_ bytes: UnsafeRawBufferPointer) throws -> Onnx_ModelProto {
        guard bytes.count <= ONNXLimits.maxFileBytes else {
            throw FormatError(.limit, "ONNX file is \(bytes.count) bytes, more than protobuf's 2 GiB limit (such models keep their weights in external data files, which alexconv does not read)")
        }
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw FormatError(.malformed, "empty file: not an ONNX model")
        }
        // A no-copy view of the caller's bytes; swift-protobuf copies what it keeps.
        let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count, deallocator: .none)
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: data)
        } catch let error as BinaryDecodingError {
            throw FormatError(.malformed, "not a valid ONNX protobuf: \(describe(error))")
        } catch {
            throw FormatError(.malformed, "not a valid ONNX protobuf: \(error)")
        }
        guard model.hasGraph else {
            throw FormatError(.truncated, "ONNX ModelProto has no graph (field 7): file truncated or not an ONNX model")
        }
        guard model.hasIrVersion, model.irVersion > 0 else {
            throw FormatError(.truncated, "ONNX ModelProto has no ir_version (field 1): file truncated or not an ONNX model")
        }
        return model
    }

    static func describe(_ error: BinaryDecodingError) -> String {
        switch error {
        case .truncated: return "truncated (a field runs past the end of the file)"
        case .malformedProtobuf: return "malformed protobuf (bad field tag, wire type or length)"
        case .invalidUTF8: return "a string field is not valid UTF-8"
        case .trailingGarbage: return "unexpected bytes after the message"
        case .missingRequiredFields: return "required fields missing"
        case .messageDepthLimit: return "messages nested deeper than the decoder allows"
        default: return "\(error)"
        }
    }

    /// The opset version the model imports for the default (`ai.onnx`) domain.
    static func defaultOpset(_ model: Onnx_ModelProto) -> Int? {
        model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }.map { Int($0.version) }
    }
}

// MARK: - Tensors

enum ONNXTensors {
    /// ONNX TensorProto.DataType -> alexconv dtype, for the types a weight file can hold.
    static let dtypes: [Int32: DType] = [
        1: .float32, 2: .uint8, 3: .int8, 5: .int16, 6: .int32, 7: .int64, 9: .bool,
        10: .float16, 11: .float64, 16: .bfloat16,
    ]

    static func typeName(_ code: Int32) -> String {
        if let type = Onnx_TensorProto.DataType(rawValue: Int(code)) { return "\(type)" }
        return "data type \(code)"
    }

    /// The tensor a TensorProto holds, in its own dtype and dims (raw_data or the typed fields).
    /// Sizes are checked against the dims before anything is allocated.
    static func tensor(from proto: Onnx_TensorProto, name: String) throws -> Tensor {
        let location = "initializer '\(name)'"
        if proto.dataLocation == .external || !proto.externalData.isEmpty {
            let file = proto.externalData.first { $0.key == "location" }?.value ?? "?"
            throw FormatError(
                .unsupported, location: location,
                "stores its data in the external file '\(file)'; alexconv reads self-contained ONNX files only (re-save with onnx.save_model(model, path, save_as_external_data=False))")
        }
        if proto.hasSegment {
            throw FormatError(.unsupported, location: location, "is split into segments, which alexconv does not read")
        }
        guard proto.dims.count <= ONNXLimits.maxRank else {
            throw FormatError(.limit, location: location, "rank \(proto.dims.count) exceeds the limit \(ONNXLimits.maxRank)")
        }
        var shape: [Int] = []
        for dim in proto.dims {
            guard dim >= 0, let value = Int(exactly: dim) else {
                throw FormatError(.malformed, location: location, "negative dimension \(dim) in dims \(proto.dims)")
            }
            shape.append(value)
        }
        let count = try checkedElementCount(shape, what: location)
        guard let dtype = dtypes[proto.dataType] else {
            throw FormatError(.unsupported, location: location, "unsupported element type \(typeName(proto.dataType)) (expected float, float16, bfloat16, double or an integer type)")
        }
        let byteCount = try checkedMultiply(count, dtype.size, what: location)

        if proto.hasRawData {
            guard proto.rawData.count == byteCount else {
                throw FormatError(
                    .malformed, location: location,
                    "raw_data holds \(proto.rawData.count) bytes, but dims \(shape) of \(dtype.name) need \(byteCount)")
            }
            let (storage, buffer) = ByteStorage.zeroed(count: byteCount)
            proto.rawData.withUnsafeBytes { buffer.copyMemory(from: $0) }
            return try Tensor(storage: storage, dtype: dtype, shape: shape, name: location)
        }

        func typedField<T>(_ values: [T], field: String) throws -> [T] {
            guard values.count == count else {
                throw FormatError(
                    .malformed, location: location,
                    "\(field) holds \(values.count) values, but dims \(shape) need \(count)")
            }
            return values
        }
        let bytes: [UInt8]
        switch dtype {
        case .float32:
            bytes = try typedField(proto.floatData, field: "float_data").withUnsafeBytes { Array($0) }
        case .float64:
            bytes = try typedField(proto.doubleData, field: "double_data").withUnsafeBytes { Array($0) }
        case .int64:
            bytes = try typedField(proto.int64Data, field: "int64_data").withUnsafeBytes { Array($0) }
        case .int32:
            bytes = try typedField(proto.int32Data, field: "int32_data").withUnsafeBytes { Array($0) }
        case .float16, .bfloat16, .int16:
            // int32_data carries the 16-bit patterns, one per value.
            let values = try typedField(proto.int32Data, field: "int32_data").map { UInt16(truncatingIfNeeded: $0) }
            bytes = values.withUnsafeBytes { Array($0) }
        case .int8, .uint8, .bool:
            let values = try typedField(proto.int32Data, field: "int32_data").map { UInt8(truncatingIfNeeded: $0) }
            bytes = values
        }
        return try Tensor(storage: ByteStorage(copying: bytes), dtype: dtype, shape: shape, name: location)
    }

    /// A TensorProto holding `tensor` as little-endian `raw_data` in float32.
    static func proto(name: String, tensor: Tensor) -> Onnx_TensorProto {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        proto.dims = tensor.shape.map { Int64($0) }
        proto.rawData = tensor.withContiguousBytes(as: .float32) { Data($0) }
        return proto
    }
}

// MARK: - Adaptive average pooling as matrices

enum AdaptivePooling {
    /// PyTorch's adaptive average pooling along one axis of length `size` to `output` cells, as an
    /// (output, size) matrix: row i averages [floor(i*size/output), ceil((i+1)*size/output)).
    static func matrix(from size: Int, to output: Int) -> [Float] {
        var m = [Float](repeating: 0, count: output * size)
        for i in 0..<output {
            let start = i * size / output
            let end = ((i + 1) * size + output - 1) / output
            let weight = 1 / Float(end - start)
            for j in start..<end { m[i * size + j] = weight }
        }
        return m
    }
}

import Foundation

/// Element types alexconv reads. Raw values are the safetensors spellings.
public enum DType: String, Codable, Sendable, CaseIterable {
    case float64 = "F64"
    case float32 = "F32"
    case float16 = "F16"
    case bfloat16 = "BF16"
    case int64 = "I64"
    case int32 = "I32"
    case int16 = "I16"
    case int8 = "I8"
    case uint8 = "U8"
    case bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// True for the floating-point types (weights); integers and bool are bookkeeping tensors.
    public var isFloatingPoint: Bool {
        switch self {
        case .float64, .float32, .float16, .bfloat16: return true
        default: return false
        }
    }

    /// The NumPy spelling without byte order (`f4`, `f2`, `i8`, ...). bfloat16 has none in NumPy.
    public var numpyCode: String? {
        switch self {
        case .float64: return "f8"
        case .float32: return "f4"
        case .float16: return "f2"
        case .bfloat16: return nil
        case .int64: return "i8"
        case .int32: return "i4"
        case .int16: return "i2"
        case .int8: return "i1"
        case .uint8: return "u1"
        case .bool: return "b1"
        }
    }

    /// The dtype of a NumPy type code such as `f4` or `u1` (byte order stripped first).
    public init?(numpyCode: String) {
        guard let match = DType.allCases.first(where: { $0.numpyCode == numpyCode }) else { return nil }
        self = match
    }

    /// Lower-case name as users write it (`float32`, `bfloat16`).
    public var name: String {
        switch self {
        case .float64: return "float64"
        case .float32: return "float32"
        case .float16: return "float16"
        case .bfloat16: return "bfloat16"
        case .int64: return "int64"
        case .int32: return "int32"
        case .int16: return "int16"
        case .int8: return "int8"
        case .uint8: return "uint8"
        case .bool: return "bool"
        }
    }

    /// Parses a user-facing name (`float32`, `f32`, `F32`, `half`, `bf16`).
    public init?(userName: String) {
        switch userName.lowercased() {
        case "float64", "f64", "double": self = .float64
        case "float32", "f32", "float": self = .float32
        case "float16", "f16", "half": self = .float16
        case "bfloat16", "bf16": self = .bfloat16
        case "int64", "i64": self = .int64
        case "int32", "i32": self = .int32
        case "int16", "i16": self = .int16
        case "int8", "i8": self = .int8
        case "uint8", "u8": self = .uint8
        case "bool": self = .bool
        default: return nil
        }
    }
}

/// Exact conversions between the floating-point encodings (round-to-nearest-even when narrowing).
public enum FloatBits {
    /// IEEE half (binary16) bits to Float; exact.
    @inlinable
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x03FF)
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            // Subnormal half: mantissa * 2^-24, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }

    /// Float to IEEE half bits, round-to-nearest-even; overflow gives infinity, NaN stays NaN.
    @inlinable
    public static func floatToHalf(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF)
        var mantissa = bits & 0x007F_FFFF
        if exponent == 0xFF {
            return sign | 0x7C00 | (mantissa != 0 ? 0x0200 | UInt16(mantissa >> 13) : 0)
        }
        var e = exponent - 127 + 15
        if e >= 0x1F { return sign | 0x7C00 }
        if e <= 0 {
            if e < -10 { return sign }  // rounds to zero (below half the smallest subnormal)
            mantissa |= 0x0080_0000
            let shift = UInt32(14 - e)
            let halfway = UInt32(1) << (shift - 1)
            let remainder = mantissa & ((UInt32(1) << shift) - 1)
            var result = mantissa >> shift
            if remainder > halfway || (remainder == halfway && (result & 1) == 1) { result += 1 }
            return sign | UInt16(result)
        }
        var result = UInt32(e) << 10 | (mantissa >> 13)
        let remainder = mantissa & 0x1FFF
        if remainder > 0x1000 || (remainder == 0x1000 && (result & 1) == 1) {
            result += 1  // may carry into the exponent, which is the correct rounding (up to inf)
        }
        e = 0
        return sign | UInt16(truncatingIfNeeded: result)
    }

    /// bfloat16 bits to Float; exact.
    @inlinable
    public static func bfloat16ToFloat(_ b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }

    /// Float to bfloat16 bits, round-to-nearest-even; NaN stays a quiet NaN.
    @inlinable
    public static func floatToBFloat16(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        if f.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}

/// Copies runs of elements between dtypes: exact widening, round-to-nearest-even narrowing.
struct ElementConverter {
    let from: DType
    let swap: Bool
    let to: DType

    init(from: DType, byteOrder: Tensor.ByteOrder, to: DType) {
        self.from = from
        self.swap = byteOrder == .big && from.size > 1
        self.to = to
    }

    @inline(__always)
    static func load16(_ p: UnsafeRawPointer, _ swap: Bool) -> UInt16 {
        let v = p.loadUnaligned(as: UInt16.self)
        return swap ? v.byteSwapped : v
    }
    @inline(__always)
    static func load32(_ p: UnsafeRawPointer, _ swap: Bool) -> UInt32 {
        let v = p.loadUnaligned(as: UInt32.self)
        return swap ? v.byteSwapped : v
    }
    @inline(__always)
    static func load64(_ p: UnsafeRawPointer, _ swap: Bool) -> UInt64 {
        let v = p.loadUnaligned(as: UInt64.self)
        return swap ? v.byteSwapped : v
    }

    static func readDouble(_ p: UnsafeRawPointer, _ dtype: DType, _ order: Tensor.ByteOrder) -> Double {
        let swap = order == .big
        switch dtype {
        case .float64: return Double(bitPattern: load64(p, swap))
        case .float32: return Double(Float(bitPattern: load32(p, swap)))
        case .float16: return Double(FloatBits.halfToFloat(load16(p, swap)))
        case .bfloat16: return Double(FloatBits.bfloat16ToFloat(load16(p, swap)))
        case .int64: return Double(Int64(bitPattern: load64(p, swap)))
        case .int32: return Double(Int32(bitPattern: load32(p, swap)))
        case .int16: return Double(Int16(bitPattern: load16(p, swap)))
        case .int8: return Double(p.load(as: Int8.self))
        case .uint8: return Double(p.load(as: UInt8.self))
        case .bool: return p.load(as: UInt8.self) != 0 ? 1 : 0
        }
    }

    static func writeDouble(_ value: Double, _ p: UnsafeMutableRawPointer, _ dtype: DType) {
        switch dtype {
        case .float64: p.storeBytes(of: value.bitPattern, as: UInt64.self)
        case .float32: p.storeBytes(of: Float(value).bitPattern, as: UInt32.self)
        case .float16: p.storeBytes(of: FloatBits.floatToHalf(Float(value)), as: UInt16.self)
        case .bfloat16: p.storeBytes(of: FloatBits.floatToBFloat16(Float(value)), as: UInt16.self)
        case .int64: p.storeBytes(of: Int64(value), as: Int64.self)
        case .int32: p.storeBytes(of: Int32(value), as: Int32.self)
        case .int16: p.storeBytes(of: Int16(value), as: Int16.self)
        case .int8: p.storeBytes(of: Int8(value), as: Int8.self)
        case .uint8: p.storeBytes(of: UInt8(value), as: UInt8.self)
        case .bool: p.storeBytes(of: value != 0 ? 1 : 0, as: UInt8.self)
        }
    }

    /// Converts `count` elements from `src` (stride in source elements) to `dst` (stride in
    /// destination elements).
    @inline(__always)
    func run(count: Int, src: UnsafeRawPointer, srcStride: Int, dst: UnsafeMutableRawPointer, dstStride: Int) {
        let ss = srcStride * from.size
        let ds = dstStride * to.size
        if from == to && !swap {
            switch from.size {
            case 4:
                if srcStride == 1 && dstStride == 1 {
                    dst.copyMemory(from: src, byteCount: count * 4)
                    return
                }
                for i in 0..<count { (dst + i * ds).storeBytes(of: (src + i * ss).loadUnaligned(as: UInt32.self), as: UInt32.self) }
            case 2:
                for i in 0..<count { (dst + i * ds).storeBytes(of: (src + i * ss).loadUnaligned(as: UInt16.self), as: UInt16.self) }
            case 8:
                for i in 0..<count { (dst + i * ds).storeBytes(of: (src + i * ss).loadUnaligned(as: UInt64.self), as: UInt64.self) }
            default:
                for i in 0..<count { (dst + i * ds).storeBytes(of: (src + i * ss).load(as: UInt8.self), as: UInt8.self) }
            }
            return
        }
        if to == .float32 {
            switch from {
            case .float32:
                for i in 0..<count { (dst + i * ds).storeBytes(of: Self.load32(src + i * ss, swap), as: UInt32.self) }
            case .float16:
                for i in 0..<count { (dst + i * ds).storeBytes(of: FloatBits.halfToFloat(Self.load16(src + i * ss, swap)), as: Float.self) }
            case .bfloat16:
                for i in 0..<count { (dst + i * ds).storeBytes(of: UInt32(Self.load16(src + i * ss, swap)) << 16, as: UInt32.self) }
            case .float64:
                for i in 0..<count { (dst + i * ds).storeBytes(of: Float(Double(bitPattern: Self.load64(src + i * ss, swap))), as: Float.self) }
            default:
                generic(count: count, src: src, ss: ss, dst: dst, ds: ds)
            }
            return
        }
        if from == .float32 && (to == .float16 || to == .bfloat16) {
            let half = to == .float16
            for i in 0..<count {
                let f = Float(bitPattern: Self.load32(src + i * ss, swap))
                (dst + i * ds).storeBytes(of: half ? FloatBits.floatToHalf(f) : FloatBits.floatToBFloat16(f), as: UInt16.self)
            }
            return
        }
        generic(count: count, src: src, ss: ss, dst: dst, ds: ds)
    }

    private func generic(count: Int, src: UnsafeRawPointer, ss: Int, dst: UnsafeMutableRawPointer, ds: Int) {
        let order: Tensor.ByteOrder = swap ? .big : .little
        for i in 0..<count {
            Self.writeDouble(Self.readDouble(src + i * ss, from, order), dst + i * ds, to)
        }
    }
}

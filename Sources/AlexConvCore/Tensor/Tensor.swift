import Foundation

/// A typed, strided view of bytes: the one tensor type of alexconv.
///
/// Layout changes (transpose, reverse an axis, reshape) make new views without copying; bytes are
/// gathered only when a tensor is materialised (`contiguous(as:)`) or streamed (`forEachChunk`).
/// `shape` is the logical shape; elements are in row-major order of `shape`. Source bytes may be
/// big-endian (`byteOrder`); materialised tensors are always little-endian and contiguous.
public struct Tensor: @unchecked Sendable {
    public enum ByteOrder: Sendable, Equatable { case little, big }

    /// Element type of the viewed bytes.
    public let dtype: DType
    /// Byte order of the viewed bytes.
    public let byteOrder: ByteOrder
    /// Logical shape: the row-major order of the view's elements, read with this shape.
    public let shape: [Int]
    /// The viewed bytes.
    public let storage: ByteStorage
    /// Byte offset of element (0, ..., 0) of the view.
    let byteOffset: Int
    /// Shape and element strides of the strided view (may differ from `shape` after a reshape of
    /// a non-contiguous view: then `shape` reinterprets the view's row-major element sequence).
    let viewShape: [Int]
    let viewStrides: [Int]

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// Number of bytes when materialised in `dtype`.
    public var byteCount: Int { count * dtype.size }
    public var rank: Int { shape.count }

    /// Views `storage` from `byteOffset` as `dtype` with `shape`, C-contiguous unless `strides`
    /// (in elements) are given. Throws a `FormatError` naming `name` if any element would lie
    /// outside the storage or the sizes overflow.
    public init(storage: ByteStorage, byteOffset: Int = 0, dtype: DType, shape: [Int],
                strides: [Int]? = nil, byteOrder: ByteOrder = .little, name: String = "tensor") throws {
        let count = try checkedElementCount(shape, what: name)
        let strides = strides ?? Tensor.contiguousStrides(shape)
        guard strides.count == shape.count else {
            throw FormatError(.corrupted, location: name, "stride count \(strides.count) does not match rank \(shape.count)")
        }
        guard byteOffset >= 0 else { throw FormatError(.malformed, location: name, "negative data offset \(byteOffset)") }
        if count > 0 {
            // Lowest and highest element offsets the view touches, checked against the storage.
            var low = 0, high = 0
            for (dim, stride) in zip(shape, strides) {
                let span = try checkedMultiply(dim - 1, Swift.abs(stride), what: name)
                if stride < 0 { low -= span } else { high += span }
            }
            let firstByte = byteOffset + low * dtype.size
            let (lastElement, o1) = high.addingReportingOverflow(1)
            let (lastBytes, o2) = lastElement.multipliedReportingOverflow(by: dtype.size)
            let (endByte, o3) = byteOffset.addingReportingOverflow(lastBytes)
            if o1 || o2 || o3 || firstByte < 0 || endByte > storage.bytes.count {
                throw FormatError(.malformed, location: name,
                                  "data needs bytes up to \(o1 || o2 || o3 ? Int.max : endByte), only \(storage.bytes.count) available (shape \(shape), \(dtype.name))")
            }
        }
        self.storage = storage
        self.byteOffset = byteOffset
        self.dtype = dtype
        self.byteOrder = byteOrder
        self.shape = shape
        self.viewShape = shape
        self.viewStrides = strides
    }

    private init(storage: ByteStorage, byteOffset: Int, dtype: DType, byteOrder: ByteOrder,
                 shape: [Int], viewShape: [Int], viewStrides: [Int]) {
        self.storage = storage
        self.byteOffset = byteOffset
        self.dtype = dtype
        self.byteOrder = byteOrder
        self.shape = shape
        self.viewShape = viewShape
        self.viewStrides = viewStrides
    }

    /// A new contiguous little-endian tensor holding `values` with `shape`.
    public init(_ values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "value count \(values.count) does not match shape \(shape)")
        let (storage, buffer) = ByteStorage.zeroed(count: values.count * 4)
        values.withUnsafeBytes { buffer.copyMemory(from: $0) }
        self.init(storage: storage, byteOffset: 0, dtype: .float32, byteOrder: .little,
                  shape: shape, viewShape: shape, viewStrides: Tensor.contiguousStrides(shape))
    }

    /// A new zero-filled contiguous tensor.
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        let count = shape.reduce(1, *)
        let (storage, _) = ByteStorage.zeroed(count: count * dtype.size)
        return Tensor(storage: storage, byteOffset: 0, dtype: dtype, byteOrder: .little,
                      shape: shape, viewShape: shape, viewStrides: contiguousStrides(shape))
    }

    /// Row-major strides (in elements) of `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= Swift.max(shape[axis], 1)
        }
        return strides
    }

    /// True when the bytes are little-endian and laid out row-major with no gaps.
    public var isContiguous: Bool {
        byteOrder == .little && shape == viewShape && viewStrides == Tensor.contiguousStrides(viewShape)
            || byteOrder == .little && isViewContiguous && shape.reduce(1, *) == viewShape.reduce(1, *)
    }

    private var isViewContiguous: Bool {
        var expected = 1
        for axis in stride(from: viewShape.count - 1, through: 0, by: -1) where viewShape[axis] != 1 {
            if viewStrides[axis] != expected { return false }
            expected *= viewShape[axis]
        }
        return true
    }

    // MARK: - Views

    /// The same elements with axes permuted: result axis i is this tensor's axis `order[i]`.
    public func transposed(_ order: [Int]) -> Tensor {
        precondition(Set(order) == Set(0..<rank) && order.count == rank, "bad axis order \(order) for rank \(rank)")
        let base = shape == viewShape ? self : materialized()
        return Tensor(storage: base.storage, byteOffset: base.byteOffset, dtype: dtype, byteOrder: base.byteOrder,
                      shape: order.map { base.shape[$0] }, viewShape: order.map { base.viewShape[$0] },
                      viewStrides: order.map { base.viewStrides[$0] })
    }

    /// The same elements in row-major order with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        if isViewContiguous && viewShape.reduce(1, *) == count {
            return Tensor(storage: storage, byteOffset: byteOffset, dtype: dtype, byteOrder: byteOrder,
                          shape: newShape, viewShape: newShape, viewStrides: Tensor.contiguousStrides(newShape))
        }
        return Tensor(storage: storage, byteOffset: byteOffset, dtype: dtype, byteOrder: byteOrder,
                      shape: newShape, viewShape: viewShape, viewStrides: viewStrides)
    }

    /// The same tensor with the order of indices along `axis` reversed.
    public func reversed(axis: Int) -> Tensor {
        let base = shape == viewShape ? self : materialized()
        var strides = base.viewStrides
        let offset = base.byteOffset + (base.viewShape[axis] - 1) * strides[axis] * dtype.size
        strides[axis] = -strides[axis]
        return Tensor(storage: base.storage, byteOffset: offset, dtype: dtype, byteOrder: base.byteOrder,
                      shape: base.shape, viewShape: base.viewShape, viewStrides: strides)
    }

    /// The sub-tensor with indices `range` along `axis`.
    public func sliced(axis: Int, _ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[axis], "slice \(range) out of \(shape[axis])")
        let base = shape == viewShape ? self : materialized()
        var newShape = base.viewShape
        newShape[axis] = range.count
        let offset = base.byteOffset + range.lowerBound * base.viewStrides[axis] * dtype.size
        return Tensor(storage: base.storage, byteOffset: offset, dtype: dtype, byteOrder: base.byteOrder,
                      shape: newShape, viewShape: newShape, viewStrides: base.viewStrides)
    }

    /// A view whose bytes are reinterpreted as `dtype`-typed elements of the same size (no copy).
    func retyped(_ newType: DType) -> Tensor {
        precondition(newType.size == dtype.size)
        return Tensor(storage: storage, byteOffset: byteOffset, dtype: newType, byteOrder: byteOrder,
                      shape: shape, viewShape: viewShape, viewStrides: viewStrides)
    }

    // MARK: - Materialising

    /// A contiguous little-endian copy in `dtype` (this tensor itself when nothing needs to change).
    public func contiguous(as target: DType? = nil) -> Tensor {
        let target = target ?? dtype
        if target == dtype && isContiguous { return self }
        return materialized(as: target)
    }

    private func materialized(as target: DType? = nil) -> Tensor {
        let target = target ?? dtype
        let (newStorage, buffer) = ByteStorage.zeroed(count: count * target.size)
        if let base = buffer.baseAddress, count > 0 {
            gatherRows(0..<(viewShape.first ?? 1), into: base, as: target)
        }
        return Tensor(storage: newStorage, byteOffset: 0, dtype: target, byteOrder: .little,
                      shape: shape, viewShape: shape, viewStrides: Tensor.contiguousStrides(shape))
    }

    /// The contiguous bytes of this tensor as `dtype`, valid inside `body`.
    public func withContiguousBytes<R>(as target: DType? = nil, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let tensor = contiguous(as: target)
        let start = tensor.storage.bytes.baseAddress.map { $0 + tensor.byteOffset }
        return try body(UnsafeRawBufferPointer(start: start, count: tensor.byteCount))
    }

    /// The elements as Float, row-major.
    public func floats() -> [Float] {
        withContiguousBytes(as: .float32) { Array($0.bindMemory(to: Float.self)) }
    }

    /// The elements as Double, row-major (exact for every float dtype; integers converted).
    public func doubles() -> [Double] {
        if dtype.isFloatingPoint {
            return withContiguousBytes(as: .float64) { Array($0.bindMemory(to: Double.self)) }
        }
        let contiguous = self.contiguous()
        return (0..<count).map { contiguous.readDouble(byteOffset: contiguous.byteOffset + $0 * dtype.size) }
    }

    /// Streams the elements as `dtype`, row-major and little-endian, in pieces of about
    /// `chunkBytes` (whole rows of the first axis), without materialising the whole tensor.
    public func forEachChunk(as target: DType? = nil, chunkBytes: Int = 8 << 20,
                             _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let target = target ?? dtype
        if count == 0 { return }
        if target == dtype && isContiguous {
            let start = storage.bytes.baseAddress! + byteOffset
            try body(UnsafeRawBufferPointer(start: start, count: byteCount))
            return
        }
        let rows = viewShape.first ?? 1
        let rowElements = rows == 0 ? 0 : count / rows
        let rowBytes = Swift.max(rowElements * target.size, 1)
        let rowsPerChunk = Swift.max(1, chunkBytes / rowBytes)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: rowsPerChunk * rowBytes, alignment: 64)
        defer { buffer.deallocate() }
        var row = 0
        while row < rows {
            let end = Swift.min(rows, row + rowsPerChunk)
            gatherRows(row..<end, into: buffer.baseAddress!, as: target)
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<((end - row) * rowElements * target.size)]))
            row = end
        }
    }

    // MARK: - Gather

    /// Copies rows `rows` of the first view axis, row-major, converted to `target`, into `dst`.
    private func gatherRows(_ rows: Range<Int>, into dst: UnsafeMutableRawPointer, as target: DType) {
        guard let srcBase = storage.bytes.baseAddress else { return }
        let src = srcBase + byteOffset
        let convert = ElementConverter(from: dtype, byteOrder: byteOrder, to: target)
        let shape0 = viewShape.isEmpty ? [1] : viewShape
        let strides0 = viewStrides.isEmpty ? [1] : viewStrides
        var shape = shape0
        shape[0] = rows.count
        let srcStart = src + rows.lowerBound * strides0[0] * dtype.size
        let dstStrides = Tensor.contiguousStrides(shape)
        let rank = shape.count
        let last = rank - 1
        // Tile two axes when the innermost output axis is strided in the source and another axis
        // is contiguous there (a transpose): reads and writes then both stay within cache.
        var tileAxis = -1
        if Swift.abs(strides0[last]) != 1 && shape[last] > 1 {
            if let a = (0..<last).first(where: { Swift.abs(strides0[$0]) == 1 && shape[$0] > 1 }) { tileAxis = a }
        }
        // When the innermost output axis jumps far in the source and no long contiguous axis pairs with
        // it (e.g. fc6 (out, C*H*W) -> (H*W*C, out): W has 6 elements), sweep every other axis for a
        // block of 16 inner indices at a time: the 16 source rows a block reads stay in cache.
        let sourceJump = Swift.abs(strides0[last])
        if sourceJump >= 64 && shape[last] >= 16 && (tileAxis < 0 || shape[tileAxis] < 32) {
            gatherInnerBlocks(shape: shape, strides: strides0, dstStrides: dstStrides, src: srcStart, dst: dst, convert: convert)
            return
        }
        let outerAxes = (0..<last).filter { $0 != tileAxis }
        var index = [Int](repeating: 0, count: rank)
        let outerCount = outerAxes.reduce(1) { $0 * shape[$1] }
        let innerCount = shape[last]
        let srcInner = strides0[last]
        let srcSize = dtype.size, dstSize = target.size
        for _ in 0..<outerCount {
            var srcOffset = 0, dstOffset = 0
            for axis in outerAxes {
                srcOffset += index[axis] * strides0[axis]
                dstOffset += index[axis] * dstStrides[axis]
            }
            if tileAxis < 0 {
                convert.run(count: innerCount, src: srcStart + srcOffset * srcSize, srcStride: srcInner,
                            dst: dst + dstOffset * dstSize, dstStride: 1)
            } else {
                let tileCount = shape[tileAxis]
                let srcTile = strides0[tileAxis], dstTile = dstStrides[tileAxis]
                let block = 32
                var a0 = 0
                while a0 < tileCount {
                    let a1 = Swift.min(tileCount, a0 + block)
                    var z0 = 0
                    while z0 < innerCount {
                        let z1 = Swift.min(innerCount, z0 + block)
                        for z in z0..<z1 {
                            convert.run(count: a1 - a0,
                                        src: srcStart + (srcOffset + a0 * srcTile + z * srcInner) * srcSize, srcStride: srcTile,
                                        dst: dst + (dstOffset + a0 * dstTile + z) * dstSize, dstStride: dstTile)
                        }
                        z0 = z1
                    }
                    a0 = a1
                }
            }
            // Advance the outer index (row-major over outerAxes).
            var k = outerAxes.count - 1
            while k >= 0 {
                let axis = outerAxes[k]
                index[axis] += 1
                if index[axis] < shape[axis] { break }
                index[axis] = 0
                k -= 1
            }
        }
    }

    /// Copies a view whose innermost axis is strided in the source: for each block of 16 inner
    /// indices, walks all outer indices row-major and copies the 16 elements of each.
    private func gatherInnerBlocks(shape: [Int], strides: [Int], dstStrides: [Int], src: UnsafeRawPointer,
                                   dst: UnsafeMutableRawPointer, convert: ElementConverter) {
        let last = shape.count - 1
        let inner = shape[last], srcInner = strides[last]
        let srcSize = dtype.size, dstSize = convert.to.size
        let outerCount = shape[0..<last].reduce(1, *)
        let block = 16
        var index = [Int](repeating: 0, count: last)
        var z0 = 0
        while z0 < inner {
            let count = Swift.min(block, inner - z0)
            for axis in 0..<last { index[axis] = 0 }
            var srcOffset = 0, dstOffset = 0
            for _ in 0..<outerCount {
                convert.run(count: count, src: src + (srcOffset + z0 * srcInner) * srcSize, srcStride: srcInner,
                            dst: dst + (dstOffset + z0) * dstSize, dstStride: 1)
                var k = last - 1
                while k >= 0 {
                    index[k] += 1
                    srcOffset += strides[k]
                    dstOffset += dstStrides[k]
                    if index[k] < shape[k] { break }
                    srcOffset -= strides[k] * shape[k]
                    dstOffset -= dstStrides[k] * shape[k]
                    index[k] = 0
                    k -= 1
                }
            }
            z0 += count
        }
    }

    /// Reads one element as Double from an absolute byte offset into the storage.
    func readDouble(byteOffset offset: Int) -> Double {
        ElementConverter.readDouble(storage.bytes.baseAddress! + offset, dtype, byteOrder)
    }
}

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
        let v = p.loadUnaligned(as: UInt16.self); return swap ? v.byteSwapped : v
    }
    @inline(__always)
    static func load32(_ p: UnsafeRawPointer, _ swap: Bool) -> UInt32 {
        let v = p.loadUnaligned(as: UInt32.self); return swap ? v.byteSwapped : v
    }
    @inline(__always)
    static func load64(_ p: UnsafeRawPointer, _ swap: Bool) -> UInt64 {
        let v = p.loadUnaligned(as: UInt64.self); return swap ? v.byteSwapped : v
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
        let ss = srcStride * from.size, ds = dstStride * to.size
        if from == to && !swap {
            switch from.size {
            case 4:
                if srcStride == 1 && dstStride == 1 { dst.copyMemory(from: src, byteCount: count * 4); return }
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

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor(\(dtype.name), \(shape))" }
}

extension Tensor {
    /// True when both tensors have the same shape and bit-identical elements in `dtype`.
    public func bitwiseEqual(_ other: Tensor) -> Bool {
        guard shape == other.shape, dtype == other.dtype else { return false }
        return withContiguousBytes { a in other.withContiguousBytes { b in a.elementsEqual(b) } }
    }

    /// Largest absolute difference between the elements (as Double), index by index.
    public func maxAbsDifference(_ other: Tensor) -> Double {
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        let a = doubles(), b = other.doubles()
        var worst = 0.0
        for i in 0..<a.count { worst = Swift.max(worst, Swift.abs(a[i] - b[i])) }
        return worst
    }
}

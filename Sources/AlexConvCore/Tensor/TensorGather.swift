// The gather kernel: copies a strided view's elements into row-major order, converting them
// (`ElementConverter`) on the way. `contiguous(as:)` and `forEachChunk` are built on it.

extension Tensor {
    /// Copies rows `rows` of the first view axis, row-major, converted to `target`, into `dst`.
    func gatherRows(_ rows: Range<Int>, into dst: UnsafeMutableRawPointer, as target: DType) {
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
        let srcSize = dtype.size
        let dstSize = target.size
        for _ in 0..<outerCount {
            var srcOffset = 0
            var dstOffset = 0
            for axis in outerAxes {
                srcOffset += index[axis] * strides0[axis]
                dstOffset += index[axis] * dstStrides[axis]
            }
            if tileAxis < 0 {
                convert.run(
                    count: innerCount, src: srcStart + srcOffset * srcSize, srcStride: srcInner,
                    dst: dst + dstOffset * dstSize, dstStride: 1)
            } else {
                let tileCount = shape[tileAxis]
                let srcTile = strides0[tileAxis]
                let dstTile = dstStrides[tileAxis]
                let block = 32
                var a0 = 0
                while a0 < tileCount {
                    let a1 = Swift.min(tileCount, a0 + block)
                    var z0 = 0
                    while z0 < innerCount {
                        let z1 = Swift.min(innerCount, z0 + block)
                        for z in z0..<z1 {
                            convert.run(
                                count: a1 - a0,
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
    private func gatherInnerBlocks(
        shape: [Int], strides: [Int], dstStrides: [Int], src: UnsafeRawPointer,
        dst: UnsafeMutableRawPointer, convert: ElementConverter
    ) {
        let last = shape.count - 1
        let inner = shape[last]
        let srcInner = strides[last]
        let srcSize = dtype.size
        let dstSize = convert.to.size
        let outerCount = shape[0..<last].reduce(1, *)
        let block = 16
        var index = [Int](repeating: 0, count: last)
        var z0 = 0
        while z0 < inner {
            let count = Swift.min(block, inner - z0)
            for axis in 0..<last { index[axis] = 0 }
            var srcOffset = 0
            var dstOffset = 0
            for _ in 0..<outerCount {
                convert.run(
                    count: count, src: src + (srcOffset + z0 * srcInner) * srcSize, srcStride: srcInner,
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

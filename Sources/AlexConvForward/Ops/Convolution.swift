import Foundation

// MARK: - Convolution

/// A compiled convolution over activations laid out (C, N, H, W) (channel-major across the batch).
///
/// Weights are the canonical (out, in/groups, kh, kw), row-major: per group a GEMM of the
/// group's weight rows (out/groups x in/groups*kh*kw) with the im2col matrix
/// (in*kh*kw x N*OH*OW) writes the output rows of that group, already in (C, N, OH, OW).
struct ConvolutionOp {
    let inChannels: Int, height: Int, width: Int
    let outChannels: Int, outHeight: Int, outWidth: Int
    let kernelH: Int, kernelW: Int, strideH: Int, strideW: Int
    let padTop: Int, padLeft: Int
    let groups: Int
    let weight: FloatArray
    let bias: FloatArray?

    /// True when the input itself is the im2col matrix (1x1, stride 1, no padding).
    var isPointwise: Bool {
        kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0
            && outHeight == height && outWidth == width
    }

    /// Rows of the im2col matrix.
    var patchRows: Int { inChannels * kernelH * kernelW }

    /// im2col scratch elements needed for `batch` images.
    func scratchCount(batch: Int) -> Int { isPointwise ? 0 : patchRows * batch * outHeight * outWidth }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, batch: Int) {
        let columns = batch * outHeight * outWidth
        let cols: UnsafePointer<Float>
        if isPointwise {
            cols = input
        } else {
            im2col(input: input, cols: scratch, batch: batch)
            cols = UnsafePointer(scratch)
        }
        let groupOut = outChannels / groups
        let groupK = patchRows / groups
        for g in 0..<groups {
            BLAS.parallelGemm(
                m: groupOut, n: columns, k: groupK,
                a: weight.pointer + g * groupOut * groupK, lda: groupK,
                b: cols + g * groupK * columns, ldb: columns,
                c: output + g * groupOut * columns, ldc: columns)
        }
        if let bias {
            let b = bias.pointer
            Parallel.forEach(outChannels, costPerItem: columns) { range in
                for o in range {
                    let row = output + o * columns
                    let value = b[o]
                    for i in 0..<columns { row[i] += value }
                }
            }
        }
    }

    /// Writes the patch matrix: row (c, i, j), column (n, oh, ow) holds input[c, n, oh*sh - pt + i, ow*sw - pl + j] or 0.
    /// Work is split over (c, i); for each input row read, the `kw` patch rows (c, i, 0..<kw) are
    /// written while the row is in L1 (a stride-4 11x11 conv1 otherwise rereads its input 11 times).
    private func im2col(input: UnsafePointer<Float>, cols: UnsafeMutablePointer<Float>, batch: Int) {
        let H = height
        let W = width
        let OH = outHeight
        let OW = outWidth
        let kh = kernelH
        let kw = kernelW
        let sh = strideH
        let sw = strideW
        let pt = padTop
        let pl = padLeft
        let plane = H * W
        let columns = batch * OH * OW
        // Output columns ow whose input column ow*sw - pl + j lies in [0, W): [lo[j], hi[j]).
        var bounds = [(Int, Int)]()
        for j in 0..<kw {
            let lo = min(OW, max(0, (pl - j + sw - 1) / sw))
            let last = W - 1 + pl - j
            bounds.append((lo, last < 0 ? lo : max(lo, min(OW, last / sw + 1))))
        }
        bounds.withUnsafeBufferPointer { bounds in
            Parallel.forEach(inChannels * kh, costPerItem: kw * columns) { range in
                for ci in range {
                    let c = ci / kh
                    let i = ci % kh
                    let firstRow = cols + (ci * kw) * columns
                    for n in 0..<batch {
                        let src = input + (c * batch + n) * plane
                        for oh in 0..<OH {
                            let offset = (n * OH + oh) * OW
                            let ih = oh * sh - pt + i
                            if ih < 0 || ih >= H {
                                for j in 0..<kw { (firstRow + j * columns + offset).update(repeating: 0, count: OW) }
                                continue
                            }
                            let inputRow = src + ih * W - pl
                            for j in 0..<kw {
                                let dst = firstRow + j * columns + offset
                                let (lo, hi) = bounds[j]
                                let row = inputRow + j
                                if lo > 0 { dst.update(repeating: 0, count: lo) }
                                if sw == 1 {
                                    (dst + lo).update(from: row + lo, count: hi - lo)
                                } else {
                                    var ow = lo
                                    var p = row + lo * sw
                                    while ow < hi {
                                        dst[ow] = p.pointee
                                        p += sw
                                        ow += 1
                                    }
                                }
                                if hi < OW { (dst + hi).update(repeating: 0, count: OW - hi) }
                            }
                        }
                    }
                }
            }
        }
    }
}

// MARK: - Dense

/// A fully connected layer: input (N, in) row-major, weight (out, in), output (N, out).
struct DenseOp {
    let inFeatures: Int
    let outFeatures: Int
    let weight: FloatArray
    let bias: FloatArray?

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int) {
        if batch == 1 {
            BLAS.parallelGemv(m: outFeatures, n: inFeatures, a: weight.pointer, lda: inFeatures, x: input, y: output)
        } else {
            BLAS.parallelGemmTransposedB(rows: batch, n: outFeatures, k: inFeatures, a: input, b: weight.pointer, c: output)
        }
        if let bias {
            let b = bias.pointer
            for n in 0..<batch {
                let row = output + n * outFeatures
                for o in 0..<outFeatures { row[o] += b[o] }
            }
        }
    }
}

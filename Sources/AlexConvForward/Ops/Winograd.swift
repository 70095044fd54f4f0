import Foundation

// MARK: - Winograd F(2x2, 3x3) convolution

/// A 3x3 stride-1 convolution computed with Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray,
/// "Fast Algorithms for Convolutional Neural Networks", 2015): 2x2 output tiles from 4x4 input tiles,
/// 16 GEMMs of (out x in) by (in x tiles) per group instead of one of (out x in*9) by (in*9 x pixels),
/// 2.25x fewer multiplications. Activations (C, N, H, W) as everywhere in the plan.
///
/// Transforms (Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A):
///   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1], A^T = [1 1 1 0; 0 1 -1 -1].
struct WinogradConvolutionOp {
    /// Whether compiled plans use Winograd for 3x3 stride-1 convolutions (tests compare both paths).
    nonisolated(unsafe) static var enabled = true

    let inChannels: Int, height: Int, width: Int
    let outChannels: Int, outHeight: Int, outWidth: Int
    let padTop: Int, padLeft: Int
    let groups: Int
    /// Transformed weights, [16][out][in/groups] (ξ-major, then the canonical output order).
    let transformedWeight: FloatArray
    let bias: FloatArray?
    var tilesH: Int { (outHeight + 1) / 2 }
    var tilesW: Int { (outWidth + 1) / 2 }

    /// True when `conv` can run as F(2x2, 3x3): 3x3 kernel, stride 1, and wide enough to pay off.
    static func applies(kernel: [Int], stride: [Int], inPerGroup: Int, outPerGroup: Int) -> Bool {
        enabled && kernel == [3, 3] && stride == [1, 1] && inPerGroup >= 8 && outPerGroup >= 8
    }

    /// Transforms canonical weights (out, in/groups, 3, 3) to U = G g Gᵀ, in double.
    init(
        inChannels: Int, height: Int, width: Int, outChannels: Int, outHeight: Int, outWidth: Int,
        padTop: Int, padLeft: Int, groups: Int, weight: FloatArray, bias: FloatArray?
    ) {
        self.inChannels = inChannels
        self.height = height
        self.width = width
        self.outChannels = outChannels
        self.outHeight = outHeight
        self.outWidth = outWidth
        self.padTop = padTop
        self.padLeft = padLeft
        self.groups = groups
        self.bias = bias
        let cg = inChannels / groups
        let u = FloatArray(count: 16 * outChannels * cg)
        let w = weight.pointer
        for o in 0..<outChannels {
            for c in 0..<cg {
                let g = (0..<9).map { Double(w[(o * cg + c) * 9 + $0]) }
                // G g: 4x3
                var gg = [Double](repeating: 0, count: 12)
                for j in 0..<3 {
                    let g0 = g[j]
                    let g1 = g[3 + j]
                    let g2 = g[6 + j]
                    gg[j] = g0
                    gg[3 + j] = (g0 + g1 + g2) / 2
                    gg[6 + j] = (g0 - g1 + g2) / 2
                    gg[9 + j] = g2
                }
                // (G g) Gᵀ: 4x4
                for i in 0..<4 {
                    let r0 = gg[i * 3]
                    let r1 = gg[i * 3 + 1]
                    let r2 = gg[i * 3 + 2]
                    let row = [r0, (r0 + r1 + r2) / 2, (r0 - r1 + r2) / 2, r2]
                    for j in 0..<4 { u.pointer[((i * 4 + j) * outChannels + o) * cg + c] = Float(row[j]) }
                }
            }
        }
        transformedWeight = u
    }

    func scratchCount(batch: Int) -> Int {
        let tiles = batch * tilesH * tilesW
        return 16 * (inChannels + outChannels) * tiles
    }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, batch: Int) {
        let tiles = batch * tilesH * tilesW
        let v = scratch
        let m = scratch + 16 * inChannels * tiles
        transformInput(input, into: v, batch: batch, tiles: tiles)
        let cg = inChannels / groups
        let og = outChannels / groups
        let u = transformedWeight.pointer
        Parallel.forEach(16 * groups, costPerItem: og * cg * tiles) { range in
            for item in range {
                let xi = item / groups
                let g = item % groups
                BLAS.gemm(
                    m: og, n: tiles, k: cg,
                    a: u + (xi * outChannels + g * og) * cg, lda: cg,
                    b: v + (xi * inChannels + g * cg) * tiles, ldb: tiles,
                    c: m + (xi * outChannels + g * og) * tiles, ldc: tiles)
            }
        }
        transformOutput(m, into: output, batch: batch, tiles: tiles)
    }

    /// V[ξ][c][tile] = (Bᵀ d B)[ξ] for every 4x4 input tile d (zero outside the input).
    private func transformInput(_ x: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>, batch: Int, tiles: Int) {
        let H = height
        let W = width
        let TH = tilesH
        let TW = tilesW
        let pt = padTop
        let pl = padLeft
        let C = inChannels
        Parallel.forEach(C, costPerItem: tiles * 64) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scratchTile in
                let d = scratchTile.baseAddress!
                for c in range {
                    for n in 0..<batch {
                        let plane = x + (c * batch + n) * H * W
                        for th in 0..<TH {
                            for tw in 0..<TW {
                                let h0 = 2 * th - pt
                                let w0 = 2 * tw - pl
                                if h0 >= 0 && h0 + 4 <= H && w0 >= 0 && w0 + 4 <= W {
                                    for i in 0..<4 {
                                        let row = plane + (h0 + i) * W + w0
                                        d[i * 4] = row[0]
                                        d[i * 4 + 1] = row[1]
                                        d[i * 4 + 2] = row[2]
                                        d[i * 4 + 3] = row[3]
                                    }
                                } else {
                                    for i in 0..<4 {
                                        let h = h0 + i
                                        for j in 0..<4 {
                                            let w = w0 + j
                                            d[i * 4 + j] = (h >= 0 && h < H && w >= 0 && w < W) ? plane[h * W + w] : 0
                                        }
                                    }
                                }
                                // Bᵀ d (rows), then (.) B (columns).
                                let tile = (n * TH + th) * TW + tw
                                for j in 0..<4 {
                                    let d0 = d[j]
                                    let d1 = d[4 + j]
                                    let d2 = d[8 + j]
                                    let d3 = d[12 + j]
                                    d[j] = d0 - d2
                                    d[4 + j] = d1 + d2
                                    d[8 + j] = d2 - d1
                                    d[12 + j] = d1 - d3
                                }
                                for i in 0..<4 {
                                    let a0 = d[i * 4]
                                    let a1 = d[i * 4 + 1]
                                    let a2 = d[i * 4 + 2]
                                    let a3 = d[i * 4 + 3]
                                    let base = v + (i * 4 * C + c) * tiles + tile
                                    base[0] = a0 - a2
                                    base[C * tiles] = a1 + a2
                                    base[2 * C * tiles] = a2 - a1
                                    base[3 * C * tiles] = a1 - a3
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Y = Aᵀ M A per tile, plus bias, cropped to the output size.
    private func transformOutput(_ m: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, batch: Int, tiles: Int) {
        let OH = outHeight
        let OW = outWidth
        let TH = tilesH
        let TW = tilesW
        let O = outChannels
        let bias = self.bias?.pointer
        Parallel.forEach(O, costPerItem: tiles * 40) { range in
            for o in range {
                let b = bias?[o] ?? 0
                for n in 0..<batch {
                    let plane = y + (o * batch + n) * OH * OW
                    for th in 0..<TH {
                        for tw in 0..<TW {
                            let tile = (n * TH + th) * TW + tw
                            // Aᵀ M: 2x4
                            var t0 = (Float(0), Float(0), Float(0), Float(0))
                            var t1 = t0
                            for j in 0..<4 {
                                let m0 = m[((0 * 4 + j) * O + o) * tiles + tile]
                                let m1 = m[((1 * 4 + j) * O + o) * tiles + tile]
                                let m2 = m[((2 * 4 + j) * O + o) * tiles + tile]
                                let m3 = m[((3 * 4 + j) * O + o) * tiles + tile]
                                let a = m0 + m1 + m2
                                let c = m1 - m2 - m3
                                switch j {
                                case 0:
                                    t0.0 = a
                                    t1.0 = c
                                case 1:
                                    t0.1 = a
                                    t1.1 = c
                                case 2:
                                    t0.2 = a
                                    t1.2 = c
                                default:
                                    t0.3 = a
                                    t1.3 = c
                                }
                            }
                            let h = 2 * th
                            let w = 2 * tw
                            let y00 = t0.0 + t0.1 + t0.2 + b
                            let y01 = t0.1 - t0.2 - t0.3 + b
                            let y10 = t1.0 + t1.1 + t1.2 + b
                            let y11 = t1.1 - t1.2 - t1.3 + b
                            plane[h * OW + w] = y00
                            if w + 1 < OW { plane[h * OW + w + 1] = y01 }
                            if h + 1 < OH {
                                plane[(h + 1) * OW + w] = y10
                                if w + 1 < OW { plane[(h + 1) * OW + w + 1] = y11 }
                            }
                        }
                    }
                }
            }
        }
    }
}

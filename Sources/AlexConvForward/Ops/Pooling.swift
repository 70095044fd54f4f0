import Foundation

// MARK: - Pooling

/// Max, average or adaptive-average pooling of (C, N, H, W) activations, plane by plane.
struct PoolOp {
    enum Kind {
        case max
        case average(countIncludePad: Bool)
        case adaptiveAverage
    }
    let kind: Kind
    let channels: Int, height: Int, width: Int
    let outHeight: Int, outWidth: Int
    let kernelH: Int, kernelW: Int, strideH: Int, strideW: Int
    /// Padding [top, left, bottom, right].
    let padding: [Int]

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int) {
        let planes = channels * batch
        Parallel.forEach(planes, costPerItem: outHeight * outWidth * kernelH * kernelW) { range in
            for plane in range {
                let src = input + plane * height * width
                let dst = output + plane * outHeight * outWidth
                switch kind {
                case .max: maxPlane(src, dst)
                case .average(let include): averagePlane(src, dst, countIncludePad: include)
                case .adaptiveAverage: adaptivePlane(src, dst)
                }
            }
        }
    }

    /// Max over each window clipped to the input (padding never wins: it is -infinity).
    private func maxPlane(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        if padding == [0, 0, 0, 0] && (outHeight - 1) * strideH + kernelH <= height && (outWidth - 1) * strideW + kernelW <= width {
            maxPlaneInterior(src, dst)
            return
        }
        for oh in 0..<outHeight {
            let h0 = oh * strideH - padding[0]
            let hs = max(h0, 0)
            let he = min(h0 + kernelH, height)
            for ow in 0..<outWidth {
                let w0 = ow * strideW - padding[1]
                let ws = max(w0, 0)
                let we = min(w0 + kernelW, width)
                var best = -Float.infinity
                if hs < he && ws < we {
                    for h in hs..<he {
                        let row = src + h * width
                        for w in ws..<we { best = max(best, row[w]) }
                    }
                } else {
                    best = 0
                }
                dst[oh * outWidth + ow] = best
            }
        }
    }

    /// Every window lies inside the input (no padding, floor mode): max of row maxima, no clipping.
    private func maxPlaneInterior(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        let kh = kernelH
        let kw = kernelW
        let sw = strideW
        for oh in 0..<outHeight {
            let top = src + oh * strideH * width
            let out = dst + oh * outWidth
            for ow in 0..<outWidth {
                let window = top + ow * sw
                var best = window[0]
                for h in 0..<kh {
                    let row = window + h * width
                    for w in 0..<kw { best = max(best, row[w]) }
                }
                out[ow] = best
            }
        }
    }

    /// PyTorch's average: the divisor is the window clipped to the padded input
    /// (count_include_pad) or to the input itself.
    private func averagePlane(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, countIncludePad: Bool) {
        for oh in 0..<outHeight {
            var h0 = oh * strideH - padding[0]
            var h1 = min(h0 + kernelH, height + padding[2])
            let padH = h1 - h0
            h0 = max(h0, 0)
            h1 = min(h1, height)
            for ow in 0..<outWidth {
                var w0 = ow * strideW - padding[1]
                var w1 = min(w0 + kernelW, width + padding[3])
                let padArea = padH * (w1 - w0)
                w0 = max(w0, 0)
                w1 = min(w1, width)
                var sum: Float = 0
                if h0 < h1 && w0 < w1 {
                    for h in h0..<h1 {
                        let row = src + h * width
                        for w in w0..<w1 { sum += row[w] }
                    }
                }
                let divisor = countIncludePad ? padArea : max(h1 - h0, 0) * max(w1 - w0, 0)
                dst[oh * outWidth + ow] = divisor > 0 ? sum / Float(divisor) : 0
            }
        }
    }

    /// PyTorch's adaptive average: window [floor(i*In/Out), ceil((i+1)*In/Out)).
    private func adaptivePlane(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        for oh in 0..<outHeight {
            let h0 = oh * height / outHeight
            let h1 = ((oh + 1) * height + outHeight - 1) / outHeight
            for ow in 0..<outWidth {
                let w0 = ow * width / outWidth
                let w1 = ((ow + 1) * width + outWidth - 1) / outWidth
                var sum: Float = 0
                for h in h0..<h1 {
                    let row = src + h * width
                    for w in w0..<w1 { sum += row[w] }
                }
                dst[oh * outWidth + ow] = sum / Float((h1 - h0) * (w1 - w0))
            }
        }
    }
}

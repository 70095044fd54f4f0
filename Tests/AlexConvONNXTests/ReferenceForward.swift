import AlexConvCore
import Foundation

/// A direct, loop-by-loop forward pass over a canonical model for ONE input (C, H, W), used only to
/// check that imported graphs mean what onnxruntime computed. Slow and simple on purpose; the real
/// forward pass lives in AlexConvForward.
enum ReferenceForward {
    static func run(_ model: Model, input: [Float]) throws -> [Float] {
        let spec = model.spec
        var x = input.map(Double.init)
        var shape = ActivationShape.map(channels: spec.input.channels, height: spec.input.height, width: spec.input.width)
        let shapes = try spec.activationShapes()
        for (layer, next) in zip(spec.layers, shapes) {
            switch layer {
            case .conv(let c):
                guard case .map(let ci, let h, let w) = shape, case .map(let co, let oh, let ow) = next else { fatalError() }
                let weight = try model.tensor("\(c.name).weight").doubles()
                let bias = c.bias ? try model.tensor("\(c.name).bias").doubles() : Array(repeating: 0, count: co)
                let inPer = ci / c.groups
                let outPer = co / c.groups
                let kh = c.kernel[0]
                let kw = c.kernel[1]
                var y = [Double](repeating: 0, count: co * oh * ow)
                for o in 0..<co {
                    let g = o / outPer
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            var sum = bias[o]
                            for i in 0..<inPer {
                                for ky in 0..<kh {
                                    for kx in 0..<kw {
                                        let iy = oy * c.stride[0] - c.padding[0] + ky
                                        let ix = ox * c.stride[1] - c.padding[1] + kx
                                        if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                                        sum += weight[((o * inPer + i) * kh + ky) * kw + kx] * x[((g * inPer + i) * h + iy) * w + ix]
                                    }
                                }
                            }
                            y[(o * oh + oy) * ow + ox] = sum
                        }
                    }
                }
                x = y
            case .relu:
                x = x.map { max($0, 0) }
            case .lrn(let l):
                guard case .map(let c, let h, let w) = shape else { fatalError() }
                let plane = h * w
                var y = x
                for ch in 0..<c {
                    // PyTorch's window (alexconv's meaning): size/2 before, (size-1)/2 after.
                    let lo = max(0, ch - l.size / 2)
                    let hi = min(c - 1, ch + (l.size - 1) / 2)
                    for p in 0..<plane {
                        var sum = 0.0
                        for j in lo...hi { sum += x[j * plane + p] * x[j * plane + p] }
                        y[ch * plane + p] = x[ch * plane + p] / pow(l.k + l.alpha / Double(l.size) * sum, l.beta)
                    }
                }
                x = y
            case .batchNorm(let b):
                let gamma = try model.tensor("\(b.name).weight").doubles()
                let beta = try model.tensor("\(b.name).bias").doubles()
                let mean = try model.tensor("\(b.name).running_mean").doubles()
                let variance = try model.tensor("\(b.name).running_var").doubles()
                let plane = x.count / gamma.count
                for i in x.indices {
                    let ch = i / plane
                    x[i] = (x[i] - mean[ch]) / (variance[ch] + b.epsilon).squareRoot() * gamma[ch] + beta[ch]
                }
            case .maxPool(let p), .avgPool(let p):
                guard case .map(let c, let h, let w) = shape, case .map(_, let oh, let ow) = next else { fatalError() }
                let isMax: Bool = { if case .maxPool = layer { return true } else { return false } }()
                var y = [Double](repeating: 0, count: c * oh * ow)
                for ch in 0..<c {
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            let y0 = oy * p.stride[0] - p.padding[0]
                            let x0 = ox * p.stride[1] - p.padding[1]
                            let y1 = min(y0 + p.kernel[0], h + p.padding[2])
                            let x1 = min(x0 + p.kernel[1], w + p.padding[3])
                            let padded = (y1 - y0) * (x1 - x0)
                            let ya = max(y0, 0)
                            let xa = max(x0, 0)
                            let yb = min(y1, h)
                            let xb = min(x1, w)
                            var best = -Double.infinity
                            var sum = 0.0
                            for iy in ya..<yb {
                                for ix in xa..<xb {
                                    let v = x[(ch * h + iy) * w + ix]
                                    best = max(best, v)
                                    sum += v
                                }
                            }
                            let divisor = p.countIncludePad ? padded : (yb - ya) * (xb - xa)
                            y[(ch * oh + oy) * ow + ox] = isMax ? best : sum / Double(divisor)
                        }
                    }
                }
                x = y
            case .adaptiveAvgPool(let size):
                guard case .map(let c, let h, let w) = shape else { fatalError() }
                let oh = size[0]
                let ow = size[1]
                var y = [Double](repeating: 0, count: c * oh * ow)
                for ch in 0..<c {
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            let ya = oy * h / oh
                            let yb = ((oy + 1) * h + oh - 1) / oh
                            let xa = ox * w / ow
                            let xb = ((ox + 1) * w + ow - 1) / ow
                            var sum = 0.0
                            for iy in ya..<yb { for ix in xa..<xb { sum += x[(ch * h + iy) * w + ix] } }
                            y[(ch * oh + oy) * ow + ox] = sum / Double((yb - ya) * (xb - xa))
                        }
                    }
                }
                x = y
            case .flatten, .dropout:
                break
            case .dense(let d):
                let weight = try model.tensor("\(d.name).weight").doubles()
                let bias = d.bias ? try model.tensor("\(d.name).bias").doubles() : Array(repeating: 0, count: d.outFeatures)
                let n = x.count
                x = (0..<d.outFeatures).map { o in
                    var sum = bias[o]
                    for i in 0..<n { sum += weight[o * n + i] * x[i] }
                    return sum
                }
            case .softmax:
                let top = x.max() ?? 0
                let e = x.map { exp($0 - top) }
                let total = e.reduce(0, +)
                x = e.map { $0 / total }
            }
            shape = next
        }
        return x.map(Float.init)
    }
}

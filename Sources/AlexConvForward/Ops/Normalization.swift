import Foundation

// MARK: - Local response normalisation

/// LRN across channels on (C, N, H, W) activations, Caffe/PyTorch/ONNX convention:
/// `y = x / (k + alpha/size * sum_{j=c-size/2}^{c+(size-1)/2} x_j^2)^beta` (PyTorch's window for even sizes).
struct LRNOp {
    let channels: Int
    /// Elements per channel for one image (H*W).
    let plane: Int
    let size: Int
    let alpha: Float
    let beta: Float
    let k: Float

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int) {
        let count = batch * plane
        let before = size / 2
        let after = (size - 1) / 2
        let scale = alpha / Float(size)
        let k = self.k
        let beta = self.beta
        let channels = self.channels
        Parallel.forEach(channels, costPerItem: count * size) { range in
            for c in range {
                let out = output + c * count
                let first = max(0, c - before)
                let last = min(channels - 1, c + after)
                out.update(repeating: 0, count: count)
                for j in first...last {
                    let x = input + j * count
                    for p in 0..<count { out[p] += x[p] * x[p] }
                }
                let x = input + c * count
                if beta == 0.75 {
                    for p in 0..<count {
                        let t = k + scale * out[p]
                        let r = t.squareRoot()
                        out[p] = x[p] / (r * r.squareRoot())
                    }
                } else if beta == 0.5 {
                    for p in 0..<count { out[p] = x[p] / (k + scale * out[p]).squareRoot() }
                } else if beta == 1 {
                    for p in 0..<count { out[p] = x[p] / (k + scale * out[p]) }
                } else {
                    for p in 0..<count { out[p] = x[p] / powf(k + scale * out[p], beta) }
                }
            }
        }
    }
}

// MARK: - Batch normalisation

/// Inference batch norm as a per-channel affine map, in place: `y = x * scale[c] + shift[c]` with
/// `scale = gamma / sqrt(var + eps)`, `shift = beta - mean * scale` (computed in double).
/// Works on (C, N, H, W) maps (`plane` = H*W) and on (N, F) vectors (`plane` = 0).
struct BatchNormOp {
    let channels: Int
    let plane: Int
    let scale: FloatArray
    let shift: FloatArray

    init(channels: Int, plane: Int, gamma: [Float], beta: [Float], mean: [Float], variance: [Float], epsilon: Double) {
        self.channels = channels
        self.plane = plane
        scale = FloatArray(count: channels)
        shift = FloatArray(count: channels)
        for c in 0..<channels {
            let s = Double(gamma[c]) / (Double(variance[c]) + epsilon).squareRoot()
            scale.pointer[c] = Float(s)
            shift.pointer[c] = Float(Double(beta[c]) - Double(mean[c]) * s)
        }
    }

    func run(_ data: UnsafeMutablePointer<Float>, batch: Int) {
        let s = scale.pointer
        let b = shift.pointer
        if plane == 0 {
            for n in 0..<batch {
                let row = data + n * channels
                for c in 0..<channels { row[c] = row[c] * s[c] + b[c] }
            }
            return
        }
        let count = batch * plane
        Parallel.forEach(channels, costPerItem: count) { range in
            for c in range {
                let row = data + c * count
                let sc = s[c]
                let sh = b[c]
                for p in 0..<count { row[p] = row[p] * sc + sh }
            }
        }
    }
}

// MARK: - Elementwise

enum Elementwise {
    /// max(x, 0) in place.
    static func relu(_ data: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEach(count) { range in
            for i in range { data[i] = max(data[i], 0) }
        }
    }

    /// Numerically stable softmax of each of `rows` rows of `width` values, in place.
    static func softmax(_ data: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        for r in 0..<rows {
            let row = data + r * width
            var peak = -Float.infinity
            for i in 0..<width { peak = max(peak, row[i]) }
            var total: Double = 0
            for i in 0..<width {
                let e = expf(row[i] - peak)
                row[i] = e
                total += Double(e)
            }
            let inverse = Float(1 / total)
            for i in 0..<width { row[i] *= inverse }
        }
    }
}

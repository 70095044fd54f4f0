import Foundation

/// The layout rules: small pure functions between the file layouts and the canonical layout.
/// Views where the rule is a pure index change (no copy until written); copies where values change.
public enum LayoutRules {
    // MARK: - Convolution kernels

    /// (kh, kw, in/groups, out) HWIO -> (out, in/groups, kh, kw) OIHW.
    public static func hwioToOihw(_ w: Tensor) -> Tensor {
        precondition(w.rank == 4, "conv kernel needs rank 4, got \(w.shape)")
        return w.transposed([3, 2, 0, 1])
    }

    /// (out, in/groups, kh, kw) OIHW -> (kh, kw, in/groups, out) HWIO.
    public static func oihwToHwio(_ w: Tensor) -> Tensor {
        precondition(w.rank == 4, "conv kernel needs rank 4, got \(w.shape)")
        return w.transposed([2, 3, 1, 0])
    }

    // MARK: - Dense matrices

    /// (in, out) <-> (out, in).
    public static func transposeDense(_ w: Tensor) -> Tensor {
        precondition(w.rank == 2, "dense weight needs rank 2, got \(w.shape)")
        return w.transposed([1, 0])
    }

    /// fc6 weight (in = H*W*C rows, out) in channels-last flatten order -> canonical (out, in = C*H*W).
    public static func fc6FromChannelsLast(_ w: Tensor, channels c: Int, height h: Int, width wd: Int) -> Tensor {
        precondition(w.rank == 2 && w.shape[0] == c * h * wd, "fc6 weight \(w.shape) does not take a \(h)x\(wd)x\(c) map")
        let out = w.shape[1]
        return w.reshaped([h, wd, c, out]).transposed([3, 2, 0, 1]).reshaped([out, c * h * wd])
    }

    /// Canonical fc6 (out, C*H*W) -> channels-last (H*W*C rows, out).
    public static func fc6ToChannelsLast(_ w: Tensor, channels c: Int, height h: Int, width wd: Int) -> Tensor {
        precondition(w.rank == 2 && w.shape[1] == c * h * wd, "fc6 weight \(w.shape) does not take a \(c)x\(h)x\(wd) map")
        let out = w.shape[0]
        return w.reshaped([out, c, h, wd]).transposed([2, 3, 1, 0]).reshaped([h * wd * c, out])
    }

    /// Permutes the input columns of a canonical (out, C*H*W) weight to (out, H*W*C) order, keeping (out, in).
    public static func fc6ColumnsCHWtoHWC(_ w: Tensor, channels c: Int, height h: Int, width wd: Int) -> Tensor {
        let out = w.shape[0]
        return w.reshaped([out, c, h, wd]).transposed([0, 2, 3, 1]).reshaped([out, h * wd * c])
    }

    /// Permutes the input columns of an (out, H*W*C) weight to canonical (out, C*H*W) order.
    public static func fc6ColumnsHWCtoCHW(_ w: Tensor, channels c: Int, height h: Int, width wd: Int) -> Tensor {
        let out = w.shape[0]
        return w.reshaped([out, h, wd, c]).transposed([0, 3, 1, 2]).reshaped([out, c * h * wd])
    }

    // MARK: - Towers

    /// Grouped OIHW weight (out, in/groups, kh, kw) -> dense (out, in, kh, kw): block-diagonal,
    /// zero outside each group's block.
    public static func expandTowers(_ w: Tensor, groups: Int) -> Tensor {
        precondition(w.rank == 4 && w.shape[0] % groups == 0)
        if groups == 1 { return w }
        let out = w.shape[0]
        let inPer = w.shape[1]
        let kh = w.shape[2]
        let kw = w.shape[3]
        let outPer = out / groups
        let dtype = w.dtype.isFloatingPoint ? w.dtype : .float32
        let source = w.contiguous(as: dtype)
        let result = Tensor.zeros([out, inPer * groups, kh, kw], dtype: dtype)
        let element = dtype.size
        let block = inPer * kh * kw * element
        source.withContiguousBytes { src in
            let dst = UnsafeMutableRawPointer(mutating: result.storage.bytes.baseAddress!)
            for o in 0..<out {
                let g = o / outPer
                let dstOffset = (o * inPer * groups + g * inPer) * kh * kw * element
                (dst + dstOffset).copyMemory(from: src.baseAddress! + o * block, byteCount: block)
            }
        }
        return result
    }

    /// Dense OIHW weight (out, in, kh, kw) -> grouped (out, in/groups, kh, kw), only when every
    /// weight outside the diagonal blocks is exactly zero; otherwise a `ModelError` naming the
    /// layer and the largest off-block value.
    public static func collapseTowers(_ w: Tensor, groups: Int, layer: String) throws -> Tensor {
        precondition(w.rank == 4)
        if groups == 1 { return w }
        let out = w.shape[0]
        let inAll = w.shape[1]
        let kh = w.shape[2]
        let kw = w.shape[3]
        guard out % groups == 0, inAll % groups == 0 else {
            throw ModelError(tensor: "\(layer).weight", "\(out) outputs and \(inAll) inputs do not split into \(groups) towers")
        }
        let outPer = out / groups
        let inPer = inAll / groups
        let values = w.doubles()
        var largest = 0.0
        let result = Tensor.zeros([out, inPer, kh, kw], dtype: w.dtype.isFloatingPoint ? w.dtype : .float32)
        let source = w.contiguous(as: result.dtype)
        let element = result.dtype.size
        let plane = kh * kw
        for o in 0..<out {
            let g = o / outPer
            for i in 0..<inAll where i / inPer != g {
                for k in 0..<plane { largest = Swift.max(largest, Swift.abs(values[(o * inAll + i) * plane + k])) }
            }
        }
        if largest != 0 {
            throw ModelError(
                tensor: "\(layer).weight",
                "cannot split into \(groups) towers: weights outside the diagonal blocks are not zero (largest magnitude \(largest))")
        }
        source.withContiguousBytes { src in
            let dst = UnsafeMutableRawPointer(mutating: result.storage.bytes.baseAddress!)
            for o in 0..<out {
                let g = o / outPer
                let from = (o * inAll + g * inPer) * plane * element
                dst.advanced(by: o * inPer * plane * element).copyMemory(from: src.baseAddress! + from, byteCount: inPer * plane * element)
            }
        }
        return result
    }

    // MARK: - Input channel order

    /// Reverses the input-channel axis (1) of a conv1 OIHW weight: BGR <-> RGB for three channels.
    public static func swapInputChannels(_ w: Tensor) -> Tensor {
        precondition(w.rank == 4)
        return w.reversed(axis: 1)
    }
}

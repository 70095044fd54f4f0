// MARK: - Activation layouts

/// Moves activations between the item-major (N, C, H*W) layout users see and the channel-major
/// (C, N, H*W) layout the plan computes in (so each convolution is one GEMM over the whole batch).
///
/// This is about activations inside the forward pass; the layouts of stored weights (OIHW vs
/// HWIO, fc6 column order) are `LayoutRules` in AlexConvCore.
enum ActivationLayout {
    /// (N, C, P) -> (C, N, P).
    static func toChannelMajor(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels: Int, plane: Int, batch: Int) {
        if batch == 1 {
            y.update(from: x, count: channels * plane)
            return
        }
        Parallel.forEach(channels, costPerItem: batch * plane) { range in
            for c in range {
                for n in 0..<batch {
                    (y + (c * batch + n) * plane).update(from: x + (n * channels + c) * plane, count: plane)
                }
            }
        }
    }

    /// (C, N, P) -> (N, C, P): the channels-first flatten of each item.
    static func toItemMajor(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels: Int, plane: Int, batch: Int) {
        if batch == 1 {
            y.update(from: x, count: channels * plane)
            return
        }
        Parallel.forEach(channels, costPerItem: batch * plane) { range in
            for c in range {
                for n in 0..<batch {
                    (y + (n * channels + c) * plane).update(from: x + (c * batch + n) * plane, count: plane)
                }
            }
        }
    }
}

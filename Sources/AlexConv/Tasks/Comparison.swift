import AlexConvCore
import Foundation

// MARK: - Tolerances and element-wise comparison

/// An element passes when `|actual - expected| <= atol + rtol * |expected|` (NumPy's `isclose`).
public struct Tolerance: Codable, Equatable, Sendable {
    /// Absolute tolerance, in the tensors' units.
    public var atol: Double
    /// Relative tolerance, a fraction of |expected|.
    public var rtol: Double
    /// A tolerance of `atol + rtol * |expected|` per element.
    public init(atol: Double = 1e-4, rtol: Double = 1e-3) {
        self.atol = atol
        self.rtol = rtol
    }
    /// atol 1e-4, rtol 1e-3: what `verify` and `diff` use unless told otherwise.
    public static let standard = Tolerance()
}

/// The result of comparing two same-shaped tensors index by index (never sorted).
public struct TensorComparison: Codable, Equatable, Sendable {
    /// The shape both tensors have (row-major; indices below are per axis of it).
    public var shape: [Int]
    /// Largest |actual - expected|.
    public var maxAbsError: Double
    /// Largest |actual - expected| / |expected| over elements with expected != 0.
    public var maxRelError: Double
    /// Index (one per axis) of the largest absolute error.
    public var worstIndex: [Int]
    /// The actual value at `worstIndex`.
    public var worstActual: Double
    /// The expected value at `worstIndex`.
    public var worstExpected: Double
    /// Elements outside the tolerance.
    public var failures: Int
    /// Elements compared.
    public var count: Int
    /// Whether every element is within the tolerance.
    public var passed: Bool { failures == 0 }

    /// Compares `actual` with `expected` index by index in row-major order (any dtypes, as float64; shapes must match: callers check and report mismatches).
    public static func compare(_ actual: Tensor, _ expected: Tensor, tolerance: Tolerance) -> TensorComparison {
        precondition(actual.count == expected.count, "compare: element counts differ")
        let a = actual.doubles()
        let b = expected.doubles()
        var maxAbs = 0.0
        var maxRel = 0.0
        var worst = 0
        var failures = 0
        for i in 0..<a.count {
            let diff = abs(a[i] - b[i])
            if diff > maxAbs || (diff.isNaN && !maxAbs.isNaN) {
                maxAbs = diff
                worst = i
            }
            if b[i] != 0 { maxRel = max(maxRel, diff / abs(b[i])) }
            if !(diff <= tolerance.atol + tolerance.rtol * abs(b[i])) { failures += 1 }
        }
        return TensorComparison(
            shape: expected.shape, maxAbsError: maxAbs, maxRelError: maxRel,
            worstIndex: unravel(worst, expected.shape), worstActual: a.isEmpty ? 0 : a[worst],
            worstExpected: b.isEmpty ? 0 : b[worst], failures: failures, count: a.count)
    }

    /// The multi-index of flat position `flat` in a row-major `shape`.
    static func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
        var index = [Int](repeating: 0, count: shape.count)
        var rest = flat
        for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] > 0 {
            index[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return index
    }

    /// One line: "max abs error 3.1e-06 at [0, 7] (0.1234 vs 0.1234), max rel 2.0e-05, 0 of 20 outside tolerance".
    public var summary: String {
        String(
            format: "max abs error %.3g at [%@] (%.6g vs expected %.6g), max rel %.3g, %d of %d outside tolerance",
            maxAbsError, worstIndex.map(String.init).joined(separator: ", "), worstActual, worstExpected,
            maxRelError, failures, count)
    }
}

/// The indices of the `k` largest values, largest first (ties: lower index first).
func topK(_ values: [Float], _ k: Int) -> [Int] {
    Array(values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }.prefix(k))
}

import Foundation

/// What a tensor is within its layer, read from the last part of its name.
public enum TensorRole: String, Sendable, Equatable {
    case weight, bias, mean, variance, ignored

    /// Role words as files spell them: PyTorch, TensorFlow, Keras, bvlc, caffe-tensorflow.
    static let vocabulary: [(word: String, role: TensorRole)] = [
        ("num_batches_tracked", .ignored),
        ("running_mean", .mean), ("moving_mean", .mean), ("running_var", .variance), ("moving_variance", .variance),
        ("weights", .weight), ("weight", .weight), ("kernel", .weight), ("gamma", .weight), ("scale", .weight),
        ("biases", .bias), ("bias", .bias), ("beta", .bias), ("offset", .bias),
        ("mean", .mean), ("variance", .variance), ("var", .variance),
        ("W", .weight), ("b", .bias),
    ]
}

/// A tensor name split into its layer key and its role (or position, for list-style entries).
public struct ParsedTensorName: Equatable, Sendable {
    public var layerKey: String
    public var role: TensorRole?
    public var position: Int?

    /// Splits `name` at its last separator (`.`, `/`, `_`, `:`) when what follows is a role word or
    /// an index; Keras' `:0` suffix is dropped first. Names with no recognisable suffix keep the whole
    /// name as the key and no role.
    public init(_ name: String) {
        var name = name
        if let range = name.range(of: ":0", options: [.anchored, .backwards]) { name.removeSubrange(range) }
        for (word, role) in TensorRole.vocabulary {
            for separator in [".", "/", "_", ":"] where name.hasSuffix(separator + word) && name.count > word.count + 1 {
                layerKey = String(name.dropLast(word.count + 1))
                self.role = role
                position = nil
                return
            }
        }
        if let separatorIndex = name.lastIndex(where: { "./_:".contains($0) }) {
            let tail = name[name.index(after: separatorIndex)...]
            if let index = Int(tail), !tail.isEmpty, tail.allSatisfy(\.isNumber) {
                layerKey = String(name[..<separatorIndex])
                role = nil
                position = index
                return
            }
        }
        layerKey = name
        role = nil
        position = nil
    }
}

/// Orders names with numbers compared by value: `features.3` < `features.10`, `conv2d` < `conv2d_1` < `conv2d_10`.
public func naturalLess(_ a: String, _ b: String) -> Bool {
    func chunks(_ s: String) -> [(isNumber: Bool, text: Substring, value: Int)] {
        var result: [(Bool, Substring, Int)] = []
        var start = s.startIndex
        while start < s.endIndex {
            let isDigit = s[start].isASCII && s[start].isNumber
            var end = start
            while end < s.endIndex && (s[end].isASCII && s[end].isNumber) == isDigit { end = s.index(after: end) }
            let text = s[start..<end]
            result.append((isDigit, text, isDigit ? (Int(text.prefix(18)) ?? 0) : 0))
            start = end
        }
        return result
    }
    let ca = chunks(a)
    let cb = chunks(b)
    for (x, y) in zip(ca, cb) {
        if x.isNumber && y.isNumber {
            if x.value != y.value { return x.value < y.value }
        } else if x.text != y.text {
            return x.text < y.text
        }
    }
    return ca.count < cb.count
}

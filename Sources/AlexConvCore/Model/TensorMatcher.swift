import Foundation

/// Every way a set of canonical tensors differs from what an architecture spec needs.
///
/// Found all at once (as mlx-swift's weight binding reports unused keys, missing keys and shape
/// mismatches together), so a user fixing a `--map` or a spec sees every problem in one run.
public struct TensorMismatch: Equatable, Sendable {
    /// A tensor the spec needs that is not there.
    public struct Missing: Equatable, Sendable {
        /// Canonical name (`conv3.bias`).
        public var name: String
        /// The shape the spec needs, canonical layout.
        public var shape: [Int]
    }

    /// A tensor that is there with another shape than the spec needs.
    public struct WrongShape: Equatable, Sendable {
        /// Canonical name.
        public var name: String
        /// The tensor's name in the source file, when it had another one.
        public var sourceName: String?
        /// The shape the spec needs, canonical layout.
        public var expected: [Int]
        /// The shape found, canonical layout.
        public var found: [Int]
    }

    /// The spec's name, for messages.
    public var architecture: String
    public var missing: [Missing] = []
    /// Canonical names (or source names, where known) of tensors the spec has no place for, sorted.
    public var unexpected: [String] = []
    public var wrongShapes: [WrongShape] = []

    /// True when the tensors fit the spec exactly.
    public var isEmpty: Bool { missing.isEmpty && unexpected.isEmpty && wrongShapes.isEmpty }

    /// Every tensor named in the mismatch.
    public var tensorNames: [String] {
        missing.map(\.name) + wrongShapes.map(\.name) + unexpected
    }

    /// One line listing every problem: "architecture X: missing a (3), b (4); wrong shape c: expected (2, 2), found (2, 3); unexpected d".
    public var summary: String {
        var parts: [String] = []
        if !missing.isEmpty {
            parts.append("missing " + missing.map { "\($0.name) \(shapeText($0.shape))" }.joined(separator: ", "))
        }
        if !wrongShapes.isEmpty {
            parts.append(
                "wrong shape "
                    + wrongShapes.map { w in
                        let source = w.sourceName.map { " (file: '\($0)')" } ?? ""
                        return "\(w.name)\(source): expected \(shapeText(w.expected)), found \(shapeText(w.found))"
                    }.joined(separator: ", "))
        }
        if !unexpected.isEmpty {
            parts.append("unexpected " + unexpected.joined(separator: ", ") + " (no place in the architecture)")
        }
        let count = missing.count + wrongShapes.count + unexpected.count
        return "\(count) tensor\(count == 1 ? "" : "s") do not fit architecture \(architecture): " + parts.joined(separator: "; ")
    }

    func shapeText(_ shape: [Int]) -> String { "(" + shape.map(String.init).joined(separator: ", ") + ")" }
}

/// Checks canonical tensors against an architecture spec: the one place that decides "do these
/// tensors fit this spec?" for models, recognised files, canonical files and imported graphs.
public enum TensorMatcher {
    /// The tensors `spec` needs, taken from `tensors` in the spec's order (canonical layout), or a
    /// `ModelError` whose `mismatch` lists every missing, unexpected and wrong-shape tensor.
    /// `sourceNames` maps canonical names to the names the file used, for messages.
    public static func match(
        _ tensors: [NamedTensor], to spec: ArchitectureSpec,
        sourceNames: [String: String] = [:]
    ) throws -> [NamedTensor] {
        let expected = try spec.expectedTensors()
        var byName: [String: Tensor] = [:]
        var duplicates: [String] = []
        for named in tensors where byName.updateValue(named.tensor, forKey: named.name) != nil {
            duplicates.append(named.name)
        }
        var mismatch = TensorMismatch(architecture: spec.name)
        var ordered: [NamedTensor] = []
        for (name, shape) in expected {
            guard let tensor = byName[name] else {
                mismatch.missing.append(.init(name: name, shape: shape))
                continue
            }
            if tensor.shape != shape {
                mismatch.wrongShapes.append(
                    .init(
                        name: name, sourceName: sourceNames[name].flatMap { $0 == name ? nil : $0 },
                        expected: shape, found: tensor.shape))
            }
            ordered.append(NamedTensor(name, tensor))
        }
        let needed = Set(expected.map(\.name))
        mismatch.unexpected = byName.keys.filter { !needed.contains($0) }.sorted().map { name in
            sourceNames[name].flatMap { $0 == name ? nil : "\(name) (file: '\($0)')" } ?? name
        }
        mismatch.unexpected += duplicates.map { "\($0) (a second time)" }
        guard mismatch.isEmpty else { throw ModelError(mismatch) }
        return ordered
    }
}

extension ModelError {
    /// The error reporting `mismatch` in one line; `tensor` names the tensor when there is only one.
    public init(_ mismatch: TensorMismatch) {
        self.init(mismatch.summary)
        self.mismatch = mismatch
    }
}

import AlexConvCore
import AlexConvForward
import Foundation

// MARK: - Comparing two models

/// Two models compared tensor by tensor (canonical names) and, given an input, layer by layer.
public struct ModelDiff: Sendable {
    /// One canonical tensor present in either model.
    public struct TensorDifference: Codable, Sendable {
        /// Canonical name (`conv1.weight`, ...).
        public var name: String
        /// Canonical shape in A (conv OIHW, dense (out, in)); nil when the tensor is missing from A.
        public var shapeA: [Int]?
        /// Canonical shape in B; nil when the tensor is missing from B.
        public var shapeB: [Int]?
        /// nil when the shapes differ or a side is missing.
        public var comparison: TensorComparison?
        /// Whether both sides have the tensor with one shape and every element is within tolerance.
        public var withinTolerance: Bool { comparison?.passed ?? false }
    }

    /// One layer's activations under both models.
    public struct LayerDifference: Codable, Sendable {
        /// Position of the layer in A's chain, from 0.
        public var index: Int
        /// The layer's readable name (`conv2`, `lrn@3`; see `Network.layerName`).
        public var name: String
        /// The layer type (`conv`, `relu`, `lrn`, ...).
        public var type: String
        /// B's activation against A's, (N, C, H, W) or (N, F); nil when they could not be compared.
        public var comparison: TensorComparison?
        /// Why the layer could not be compared (shapes differ).
        public var note: String?
        /// Whether the activations were compared and every element is within tolerance.
        public var withinTolerance: Bool { comparison?.passed ?? false }
    }

    /// The tolerance every comparison used.
    public var tolerance: Tolerance
    /// How B was brought to A's conventions before comparing (towers, input channel order).
    public var notes: [String] = []
    /// Every canonical tensor of A, then those only B has.
    public var tensors: [TensorDifference]
    /// Empty unless an input was given.
    public var layers: [LayerDifference]
    /// The first layer whose activations are outside the tolerance (with an input).
    public var firstDivergentLayer: LayerDifference? { layers.first { !$0.withinTolerance } }
    /// Whether the two models agree: every tensor within tolerance or, given an input, every layer's
    /// activation (so a model whose towers were expanded to one still agrees with its source).
    public var agree: Bool {
        layers.isEmpty ? tensors.allSatisfy(\.withinTolerance) : layers.allSatisfy(\.withinTolerance)
    }

    /// Compares the canonical tensors of `a` and `b` and, with `input` (a float batch (N, C, H, W)), the activations after every layer.
    public static func compare(_ a: Model, _ b: Model, input: Tensor? = nil, tolerance: Tolerance = .standard) throws -> ModelDiff {
        var tensors: [TensorDifference] = []
        let namesA = Set(a.tensors.map(\.name))
        for t in a.tensors {
            let other = b[t.name]
            var difference = TensorDifference(name: t.name, shapeA: t.tensor.shape, shapeB: other?.shape, comparison: nil)
            if let other, other.shape == t.tensor.shape {
                difference.comparison = TensorComparison.compare(other, t.tensor, tolerance: tolerance)
            }
            tensors.append(difference)
        }
        for t in b.tensors where !namesA.contains(t.name) {
            tensors.append(TensorDifference(name: t.name, shapeA: nil, shapeB: t.tensor.shape, comparison: nil))
        }
        var layers: [LayerDifference] = []
        if let input {
            let na = try Network(model: a)
            let nb = try Network(model: b)
            let ra = try na.runCollectingActivations(input)
            let rb = try nb.runCollectingActivations(input)
            // Layers are matched by position; chains of different lengths compare up to the shorter.
            for (la, lb) in zip(ra.activations, rb.activations) {
                let type = a.spec.layers[la.index].typeName
                var difference = LayerDifference(index: la.index, name: la.name, type: type, comparison: nil, note: nil)
                if type != b.spec.layers[lb.index].typeName {
                    difference.note = "layer types differ: \(type) vs \(b.spec.layers[lb.index].typeName)"
                } else if la.tensor.shape != lb.tensor.shape {
                    difference.note = "activation shapes differ: \(la.tensor.shape) vs \(lb.tensor.shape)"
                } else {
                    difference.comparison = TensorComparison.compare(lb.tensor, la.tensor, tolerance: tolerance)
                }
                layers.append(difference)
            }
            if ra.activations.count != rb.activations.count {
                let index = min(ra.activations.count, rb.activations.count)
                layers.append(
                    LayerDifference(
                        index: index, name: "layer \(index + 1)", type: "end",
                        comparison: nil, note: "layer chains differ in length: \(ra.activations.count) vs \(rb.activations.count)"))
            }
        }
        return ModelDiff(tolerance: tolerance, tensors: tensors, layers: layers)
    }

    /// Human-readable report: a table of tensors, then layers and the first divergent one.
    public var text: String {
        var lines = [String(format: "tolerance: atol %g, rtol %g (B compared against A)", tolerance.atol, tolerance.rtol)]
        lines += notes.map { "note: \($0)" }
        lines.append("tensors:")
        for t in tensors {
            let mark = t.withinTolerance ? "ok  " : "DIFF"
            if let c = t.comparison {
                lines.append(
                    String(
                        format: "  %@ %-24@ %-18@ max abs %.3g  max rel %.3g%@", mark, t.name as NSString,
                        "\(c.shape)" as NSString, c.maxAbsError, c.maxRelError,
                        c.passed ? "" : "  (\(c.failures) of \(c.count) outside, worst at \(c.worstIndex))"))
            } else if t.shapeA == nil || t.shapeB == nil {
                lines.append("  \(mark) \(t.name): only in \(t.shapeA == nil ? "B" : "A")")
            } else {
                lines.append("  \(mark) \(t.name): shapes differ, A \(t.shapeA!) vs B \(t.shapeB!)")
            }
        }
        if !layers.isEmpty {
            lines.append("layers (activations for the given input):")
            for l in layers {
                let mark = l.withinTolerance ? "ok  " : "DIFF"
                if let c = l.comparison {
                    lines.append(
                        String(
                            format: "  %@ %3d %-12@ %-10@ max abs %.3g  max rel %.3g", mark, l.index + 1,
                            l.name as NSString, l.type as NSString, c.maxAbsError, c.maxRelError))
                } else {
                    lines.append("  \(mark) \(l.index + 1) \(l.name): \(l.note ?? "not compared")")
                }
            }
            if let first = firstDivergentLayer {
                let detail = first.comparison.map { $0.summary } ?? first.note ?? ""
                lines.append("first divergent layer: \(first.index + 1) \(first.name) (\(first.type)): \(detail)")
            } else {
                lines.append("all \(layers.count) layers agree")
            }
        }
        lines.append(agree ? "models agree" : "models differ beyond tolerance")
        return lines.joined(separator: "\n")
    }

    /// JSON report, sorted keys.
    public var json: String {
        struct Output: Encodable {
            let agree: Bool
            let tolerance: Tolerance
            let tensors: [TensorDifference]
            let layers: [LayerDifference]
            let firstDivergentLayer: String?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let output = Output(agree: agree, tolerance: tolerance, tensors: tensors, layers: layers, firstDivergentLayer: firstDivergentLayer?.name)
        return String(decoding: (try? encoder.encode(output)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

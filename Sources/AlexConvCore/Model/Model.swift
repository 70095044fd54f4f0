import Foundation

/// A model in canonical form: an architecture spec plus canonical tensors.
///
/// Tensors: `convK.weight` (out, in/groups, kh, kw), `convK.bias` (out), `bnK.{weight,bias,running_mean,running_var}` (C),
/// `fcK.weight` (out, in) with fc6's input index running over (C, H, W), `fcK.bias` (out).
/// Input channel order, towers and preprocessing are those of the source, recorded in `spec`.
public struct Model: Sendable {
    public var spec: ArchitectureSpec
    /// Canonical tensors in the spec's order.
    public var tensors: [NamedTensor]
    /// Where the model came from: the file and the format, e.g. "bvlc_alexnet.npy (npy pickled dict)".
    public var source: String
    /// What the recognizer decided and why, for `inspect`.
    public var notes: [String]

    public init(spec: ArchitectureSpec, tensors: [NamedTensor], source: String, notes: [String] = []) {
        self.spec = spec
        self.tensors = tensors
        self.source = source
        self.notes = notes
    }

    /// The canonical tensor called `name`.
    public subscript(name: String) -> Tensor? {
        get { tensors.first(where: { $0.name == name })?.tensor }
        set {
            if let index = tensors.firstIndex(where: { $0.name == name }) {
                if let newValue { tensors[index].tensor = newValue } else { tensors.remove(at: index) }
            } else if let newValue {
                tensors.append(NamedTensor(name, newValue))
            }
        }
    }

    /// The tensor called `name`, or a `ModelError` saying it is missing.
    public func tensor(_ name: String) throws -> Tensor {
        guard let tensor = self[name] else { throw ModelError(tensor: name, "missing from the model") }
        return tensor
    }

    /// Checks every tensor the spec needs is present with the right shape, and nothing else is;
    /// the error lists every problem at once (`TensorMatcher`).
    public func validate() throws {
        try spec.validate()
        _ = try TensorMatcher.match(tensors, to: spec)
    }

    /// Total number of parameters (elements of all tensors).
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.tensor.count } }
}

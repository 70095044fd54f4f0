import Foundation

/// How a file lays out its weights before canonicalisation.
public enum WeightLayout: String, Codable, Sendable {
    /// TensorFlow/Keras/bvlc npy: conv (kh, kw, in/groups, out), dense (in, out), fc6 rows in (H, W, C) order.
    case channelsLast = "channels-last"
    /// PyTorch/Caffe/ONNX/canonical: conv (out, in/groups, kh, kw), dense (out, in), fc6 columns in (C, H, W) order.
    case channelsFirst = "channels-first"
}

/// One tensor of a file, under the name the file gives it.
public struct NamedTensor: Sendable {
    public var name: String
    public var tensor: Tensor
    public init(_ name: String, _ tensor: Tensor) {
        self.name = name
        self.tensor = tensor
    }
}

/// What a reader found in a file: its tensors in the file's own names and layout, in file order,
/// plus whatever the file itself says about the architecture. Readers know formats, not AlexNet.
public struct TensorBundle: Sendable {
    /// Path of the file read.
    public var path: String
    /// Format as shown to users, e.g. "npy (pickled dict, bvlc style)".
    public var format: String
    /// Tensors in file order, in the file's layout.
    public var tensors: [NamedTensor]
    /// The layout the format implies, when it implies one (nil: decide from shapes).
    public var layout: WeightLayout?
    /// The architecture, when the file describes it (Keras model_config, ONNX graph, canonical file).
    public var spec: ArchitectureSpec?
    /// Why the architecture the file describes could not be used (a Lambda layer, an unknown layer),
    /// when it describes one; named in the error if the weights then match no preset either.
    public var specProblem: String?
    /// Free-form key/value facts from the file (safetensors `__metadata__`, Keras version, ...).
    public var metadata: [String: String]
    /// Things the reader skipped or noticed (ignored checkpoint entries, ...), shown by `inspect`.
    public var notes: [String]
    /// Groups of names the reader knows belong to one layer, with tensor roles in order
    /// (e.g. Keras `weight_names`); nil to let the recognizer group by name.
    public var layerHints: [LayerHint]?

    public init(
        path: String, format: String, tensors: [NamedTensor], layout: WeightLayout? = nil,
        spec: ArchitectureSpec? = nil, metadata: [String: String] = [:], notes: [String] = [],
        layerHints: [LayerHint]? = nil
    ) {
        self.path = path
        self.format = format
        self.tensors = tensors
        self.layout = layout
        self.spec = spec
        self.metadata = metadata
        self.notes = notes
        self.layerHints = layerHints
    }

    /// The tensor called `name`, if present.
    public subscript(name: String) -> Tensor? {
        tensors.first(where: { $0.name == name })?.tensor
    }
}

/// A layer as a file describes it: its name and its tensors' names in the file's order.
public struct LayerHint: Sendable, Equatable {
    public enum Kind: String, Sendable { case conv, dense, batchNorm }
    public var name: String
    public var kind: Kind?
    /// Tensor names in role order: conv/dense [weight, bias?]; batchNorm [gamma, beta, mean, variance].
    public var tensorNames: [String]
    public init(name: String, kind: Kind? = nil, tensorNames: [String]) {
        self.name = name
        self.kind = kind
        self.tensorNames = tensorNames
    }
}

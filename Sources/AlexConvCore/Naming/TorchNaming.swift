import Foundation

// MARK: - Naming schemes

/// How canonical layers are named in a PyTorch state dict.
///
/// Canonical layout == torch layout (conv OIHW, linear (out, in), fc6 input over (C, H, W)),
/// so only names change; no tensor is permuted.
public enum TorchNaming: String, CaseIterable, Sendable {
    /// torchvision-style `nn.Sequential` indices derived from the spec: every layer before the
    /// flatten / adaptive average pool is one index of `features`, every layer after the flatten
    /// one index of `classifier` (torchvision: features.{0,3,6,8,10}, classifier.{1,4,6}).
    case sequential
    /// The canonical names: `conv1.weight`, `bn1.running_mean`, `fc6.bias`, ...
    case canonical
    /// Seed 003's AlexNet8 modules: each conv opens `layerN` (a Sequential with the layers that
    /// follow it, or the bare conv), each dense after the flatten is `layerN` too:
    /// layer1.0, layer2.0, layer3, layer4, layer5.0, layer6, layer7, layer8.
    case layers

    /// The scheme `--naming` names (also accepts `torchvision` and `alexnet8`); nil picks the
    /// default for the spec: `layers` for preset alexnet8, else `sequential`.
    public static func resolve(_ name: String?, for spec: ArchitectureSpec) throws -> TorchNaming {
        guard let name else { return spec.name == "alexnet8" ? .layers : .sequential }
        guard let naming = aliases[name.lowercased()] else {
            throw UsageError("naming '\(name)' is not available for pth/safetensors (expected one of: \(names.joined(separator: ", ")))")
        }
        return naming
    }

    /// Every name a naming is known by: its own, and the model it comes from.
    static let aliases: [String: TorchNaming] = [
        "sequential": .sequential, "torchvision": .sequential, "canonical": .canonical, "layers": .layers, "alexnet8": .layers,
    ]
    /// The names `resolve` accepts, in the order `--help` lists them.
    public static let names = ["sequential", "torchvision", "canonical", "layers", "alexnet8"]

    /// One module of the written state dict: its name and the canonical layer it holds (nil
    /// for parameterless modules such as ReLU, which still appear in `_metadata`).
    public struct Module: Equatable, Sendable {
        public var name: String
        public var canonicalLayer: String?
        public var isBatchNorm: Bool

        public init(name: String, canonicalLayer: String?, isBatchNorm: Bool) {
            self.name = name
            self.canonicalLayer = canonicalLayer
            self.isBatchNorm = isBatchNorm
        }
    }

    /// Modules in spec order, including the parent containers (`features`, `layer1`), as
    /// `state_dict()._metadata` lists them.
    public func modules(for spec: ArchitectureSpec) -> [Module] {
        var modules: [Module] = []
        func layerName(_ layer: LayerSpec) -> (String?, Bool) {
            switch layer {
            case .conv(let c): return (c.name, false)
            case .dense(let d): return (d.name, false)
            case .batchNorm(let b): return (b.name, true)
            default: return (nil, false)
            }
        }
        switch self {
        case .canonical:
            for layer in spec.layers {
                let (name, isBN) = layerName(layer)
                if let name { modules.append(Module(name: name, canonicalLayer: name, isBatchNorm: isBN)) }
            }
        case .sequential:
            let split =
                spec.layers.firstIndex { layer in
                    if case .flatten = layer { return true }
                    if case .adaptiveAvgPool = layer { return true }
                    return false
                } ?? spec.layers.count
            modules.append(Module(name: "features", canonicalLayer: nil, isBatchNorm: false))
            for (i, layer) in spec.layers[..<split].enumerated() {
                let (name, isBN) = layerName(layer)
                modules.append(Module(name: "features.\(i)", canonicalLayer: name, isBatchNorm: isBN))
            }
            if spec.layers.contains(where: {
                if case .adaptiveAvgPool = $0 { return true }
                return false
            }) {
                modules.append(Module(name: "avgpool", canonicalLayer: nil, isBatchNorm: false))
            }
            let after = spec.layers[split...].drop { layer in
                if case .flatten = layer { return true }
                if case .adaptiveAvgPool = layer { return true }
                return false
            }
            modules.append(Module(name: "classifier", canonicalLayer: nil, isBatchNorm: false))
            for (i, layer) in after.enumerated() {
                let (name, isBN) = layerName(layer)
                modules.append(Module(name: "classifier.\(i)", canonicalLayer: name, isBatchNorm: isBN))
            }
        case .layers:
            // Blocks: a conv (or, after the flatten, a dense) opens a block; the layers after it
            // up to the next opener join it. Layers before the first opener get blocks of their own.
            var blocks: [[LayerSpec]] = []
            var flattened = false
            for layer in spec.layers {
                switch layer {
                case .flatten:
                    flattened = true
                    continue
                case .conv:
                    blocks.append([layer])
                case .dense where flattened:
                    blocks.append([layer])
                default:
                    if blocks.isEmpty { blocks.append([layer]) } else { blocks[blocks.count - 1].append(layer) }
                }
            }
            for (b, block) in blocks.enumerated() {
                let base = "layer\(b + 1)"
                if block.count == 1 {
                    let (name, isBN) = layerName(block[0])
                    modules.append(Module(name: base, canonicalLayer: name, isBatchNorm: isBN))
                } else {
                    modules.append(Module(name: base, canonicalLayer: nil, isBatchNorm: false))
                    for (i, layer) in block.enumerated() {
                        let (name, isBN) = layerName(layer)
                        modules.append(Module(name: "\(base).\(i)", canonicalLayer: name, isBatchNorm: isBN))
                    }
                }
            }
        }
        return modules
    }

    /// The state dict of `model` under this naming, in spec order: torch layout (== canonical),
    /// BatchNorm layers with `num_batches_tracked` (int64 scalar 0) as `state_dict()` has it.
    public func stateDict(of model: Model) throws -> [NamedTensor] {
        let modules = modules(for: model.spec)
        var result: [NamedTensor] = []
        for module in modules {
            guard let layer = module.canonicalLayer else { continue }
            let roles = module.isBatchNorm ? ["weight", "bias", "running_mean", "running_var"] : ["weight", "bias"]
            for role in roles {
                if let tensor = model[layer + "." + role] {
                    result.append(NamedTensor(module.name + "." + role, tensor))
                }
            }
            if module.isBatchNorm {
                result.append(NamedTensor(module.name + ".num_batches_tracked", Tensor.zeros([], dtype: .int64)))
            }
        }
        let written = result.count - modules.filter(\.isBatchNorm).count
        if written != model.tensors.count {
            let covered = Set(modules.compactMap(\.canonicalLayer))
            let missing = model.tensors.map(\.name).filter { !covered.contains(String($0.split(separator: ".").first ?? "")) }
            throw ModelError(tensor: missing.first, "has no module under the \(rawValue) naming of architecture \(model.spec.name)")
        }
        return result
    }
}

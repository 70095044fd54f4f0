import Foundation

/// How the architecture of an import is chosen.
public enum ArchitectureChoice: Sendable {
    /// Detect from the file (its own description, else tensor names and shapes).
    case detect
    /// A named preset (docs/contract.md); widths and class count still come from the tensors.
    case preset(Preset)
    /// An explicit spec (`--arch spec.json`).
    case spec(ArchitectureSpec)
}

/// The outcome of recognising a bundle: the canonical model and the explanation `inspect` prints.
public struct Recognition: Sendable {
    public var model: Model
    /// Layout the file used.
    public var layout: WeightLayout
    /// Why this architecture was chosen.
    public var reasons: [String]
    /// Other architectures that fit the same tensors, and how they differ.
    public var ambiguities: [Alternative]
    /// Source tensor name -> canonical tensor name.
    public var nameMap: [(source: String, canonical: String)]
    /// Tensors of the file left out (bookkeeping such as num_batches_tracked).
    public var ignored: [String]
}

/// A preset that fits a file's tensors as well as (or nearly as well as) the one chosen.
public struct Alternative: Sendable, Equatable, CustomStringConvertible {
    /// The preset's name.
    public var preset: String
    /// True when it scored exactly as well as the chosen one.
    public var fitsEquallyWell: Bool
    /// The preset's one-line summary.
    public var summary: String

    public var description: String {
        "\(preset) also fits these tensors\(fitsEquallyWell ? " equally well" : ""): \(summary)"
    }
}

/// Turns a reader's `TensorBundle` into a canonical `Model`: groups tensors into layers, decides the
/// layout, chooses the architecture (stating why), and applies the layout rules.
public enum Recognizer {
    /// A layer found in a file: its key, kind and tensors by role.
    struct FoundLayer {
        enum Kind: String { case conv, dense, batchNorm }
        var key: String
        var kind: Kind
        var weight: NamedTensor
        var bias: NamedTensor?
        var mean: NamedTensor?
        var variance: NamedTensor?
        var all: [NamedTensor] { [weight, bias, mean, variance].compactMap { $0 } }
    }

    /// Recognises `bundle`. `map` renames source tensors to canonical names first (`--map`).
    public static func recognize(
        _ bundle: TensorBundle, choice: ArchitectureChoice = .detect,
        map: [String: String]? = nil
    ) throws -> Recognition {
        try withFileContext(bundle.path) {
            if CanonicalFile.isCanonical(bundle), map == nil {
                if case .detect = choice {
                    let model = try CanonicalFile.model(from: bundle)
                    return Recognition(
                        model: model, layout: .channelsFirst,
                        reasons: ["the file is an alexconv canonical model; its metadata records the architecture '\(model.spec.name)'"],
                        ambiguities: [], nameMap: model.tensors.map { ($0.name, $0.name) }, ignored: [])
                }
            }
            var bundle = bundle
            if let map { bundle = try applyMap(map, to: bundle) }
            do {
                let (layers, ignored) = try findLayers(bundle)
                let layout = try decideLayout(bundle, layers)
                return try build(bundle: bundle, layers: layers, layout: layout, choice: choice, ignored: ignored)
            } catch var error as ModelError {
                // The root cause first: the file described its architecture, but not in a form alexconv can use.
                if let problem = bundle.specProblem, case .detect = choice {
                    let where_ = error.tensor.map { "tensor '\($0)': " } ?? ""
                    error.detail = "the file's own architecture cannot be used (\(problem)), and its weights fit no preset: \(where_)\(error.detail)"
                    error.tensor = nil
                    error.remedy = .nameArchitecture
                }
                throw error
            }
        }
    }

    /// Loads a `--map` file: a JSON object of source name -> canonical name.
    public static func loadMap(path: String) throws -> [String: String] {
        let data = try readSmallFile(path, what: "name map")
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: String] else {
            throw FormatError(.malformed, file: path, "a name map must be a JSON object of source name -> canonical name (strings)")
        }
        return object
    }

    static func applyMap(_ map: [String: String], to bundle: TensorBundle) throws -> TensorBundle {
        var copy = bundle
        let names = Set(bundle.tensors.map(\.name))
        let unknown = map.keys.filter { !names.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw ModelError("the name map lists tensors the file does not have: \(unknown.joined(separator: ", ")); the file has: \(bundle.tensors.map(\.name).joined(separator: ", "))")
        }
        copy.tensors = bundle.tensors.map { NamedTensor(map[$0.name] ?? $0.name, $0.tensor) }
        copy.layerHints = nil
        return copy
    }

    // MARK: - Grouping

    static func findLayers(_ bundle: TensorBundle) throws -> ([FoundLayer], [String]) {
        var ignored: [String] = []
        var groups: [(key: String, members: [(NamedTensor, ParsedTensorName)])] = []
        if let hints = bundle.layerHints {
            let byName = Dictionary(bundle.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for hint in hints {
                var members: [(NamedTensor, ParsedTensorName)] = []
                for (i, name) in hint.tensorNames.enumerated() {
                    guard let t = byName[name] else { throw ModelError(tensor: name, "listed for layer \(hint.name) but not in the file") }
                    var parsed = ParsedTensorName(name)
                    parsed.role = nil
                    parsed.position = i
                    members.append((t, parsed))
                }
                if !members.isEmpty { groups.append((hint.name, members)) }
            }
            let hinted = Set(hints.flatMap(\.tensorNames))
            ignored += bundle.tensors.map(\.name).filter { !hinted.contains($0) }
        } else {
            var index: [String: Int] = [:]
            for tensor in bundle.tensors {
                let parsed = ParsedTensorName(tensor.name)
                if parsed.role == .ignored || !tensor.tensor.dtype.isFloatingPoint {
                    ignored.append(tensor.name)
                    continue
                }
                if let i = index[parsed.layerKey] {
                    groups[i].members.append((tensor, parsed))
                } else {
                    index[parsed.layerKey] = groups.count
                    groups.append((parsed.layerKey, [(tensor, parsed)]))
                }
            }
        }
        var layers: [FoundLayer] = []
        var unmatched: [String] = []
        for group in groups {
            if let layer = classify(key: group.key, members: group.members) {
                layers.append(layer)
            } else {
                unmatched += group.members.map { "\($0.0.name) \($0.0.tensor.shape)" }
            }
        }
        if !unmatched.isEmpty {
            throw ModelError("tensors that belong to no conv, dense or batchnorm layer: \(unmatched.joined(separator: ", ")) (rename them with a name map)", remedy: .mapTensorNames)
        }
        return (layers, ignored)
    }

    static func classify(key: String, members: [(NamedTensor, ParsedTensorName)]) -> FoundLayer? {
        var byRole: [TensorRole: NamedTensor] = [:]
        let positional = members.filter { $0.1.role == nil }.sorted { ($0.1.position ?? 0) < ($1.1.position ?? 0) }
        for (tensor, parsed) in members where parsed.role != nil { byRole[parsed.role!] = tensor }
        if byRole.isEmpty {
            // List style [W, b] or [gamma, beta, mean, var].
            let tensors = positional.map(\.0)
            if tensors.count == 4 && tensors.allSatisfy({ $0.tensor.rank == 1 }) {
                return FoundLayer(key: key, kind: .batchNorm, weight: tensors[0], bias: tensors[1], mean: tensors[2], variance: tensors[3])
            }
            guard (1...2).contains(tensors.count) else { return nil }
            byRole[.weight] = tensors[0]
            if tensors.count == 2 { byRole[.bias] = tensors[1] }
        } else if !positional.isEmpty {
            return nil
        }
        guard let weight = byRole[.weight] else { return nil }
        if let mean = byRole[.mean], let variance = byRole[.variance], let bias = byRole[.bias], weight.tensor.rank == 1 {
            return FoundLayer(key: key, kind: .batchNorm, weight: weight, bias: bias, mean: mean, variance: variance)
        }
        guard byRole[.mean] == nil, byRole[.variance] == nil else { return nil }
        let bias = byRole[.bias]
        if let bias, bias.tensor.rank != 1 { return nil }
        switch weight.tensor.rank {
        case 4: return FoundLayer(key: key, kind: .conv, weight: weight, bias: bias)
        case 2: return FoundLayer(key: key, kind: .dense, weight: weight, bias: bias)
        default: return nil
        }
    }

    // MARK: - Layout

    static func decideLayout(_ bundle: TensorBundle, _ layers: [FoundLayer]) throws -> WeightLayout {
        if let layout = bundle.layout { return layout }
        var votes = (first: 0, last: 0)
        for layer in layers where layer.kind == .conv {
            let s = layer.weight.tensor.shape
            let lastLooksSpatial = s[2] == s[3] && s[2] <= 11
            let firstLooksSpatial = s[0] == s[1] && s[0] <= 11
            if lastLooksSpatial && !firstLooksSpatial { votes.first += 1 }
            if firstLooksSpatial && !lastLooksSpatial { votes.last += 1 }
            if let bias = layer.bias?.tensor.shape.first {
                if bias == s[0] && bias != s[3] { votes.first += 1 }
                if bias == s[3] && bias != s[0] { votes.last += 1 }
            }
        }
        return votes.last > votes.first ? .channelsLast : .channelsFirst
    }

    // MARK: - Building the model

    struct Structure {
        var convs: [(oihw: Tensor, layer: FoundLayer)] = []
        var denses: [FoundLayer] = []
        var norms: [FoundLayer] = []
        var convWidths: [Int] { convs.map { $0.oihw.shape[0] } }
        var kernels: [Int] { convs.map { $0.oihw.shape[2] } }
        var groups: [Int] = []
    }

    static func sorted(_ layers: [FoundLayer], _ kind: FoundLayer.Kind, hinted: Bool) -> [FoundLayer] {
        let selected = layers.filter { $0.kind == kind }
        return hinted ? selected : selected.sorted { naturalLess($0.key, $1.key) }
    }

    static func build(
        bundle: TensorBundle, layers: [FoundLayer], layout: WeightLayout,
        choice: ArchitectureChoice, ignored: [String]
    ) throws -> Recognition {
        let hinted = bundle.layerHints != nil
        var structure = Structure()
        for layer in sorted(layers, .conv, hinted: hinted) {
            let w = layout == .channelsLast ? LayoutRules.hwioToOihw(layer.weight.tensor) : layer.weight.tensor
            structure.convs.append((w, layer))
        }
        structure.denses = sorted(layers, .dense, hinted: hinted)
        structure.norms = sorted(layers, .batchNorm, hinted: hinted)
        guard !structure.convs.isEmpty else { throw ModelError("no convolution weights found (expected rank-4 tensors)") }
        guard !structure.denses.isEmpty else { throw ModelError("no dense weights found (expected rank-2 tensors)") }
        // Groups from the channel chain: conv k sees the previous conv's outputs split into towers.
        var previousOut = 3
        for (i, conv) in structure.convs.enumerated() {
            let inPer = conv.oihw.shape[1]
            if i == 0 { previousOut = inPer }
            guard inPer > 0, previousOut % inPer == 0 else {
                throw ModelError(tensor: conv.layer.weight.name, "takes \(inPer) input channels per group, but the previous layer gives \(previousOut)")
            }
            structure.groups.append(previousOut / inPer)
            previousOut = conv.oihw.shape[0]
        }
        // Dense widths in (out, in) terms.
        let denseOutIn: [(out: Int, in: Int)] = structure.denses.map {
            let s = $0.weight.tensor.shape
            return layout == .channelsLast ? (s[1], s[0]) : (s[0], s[1])
        }

        var reasons: [String] = []
        var ambiguities: [Alternative] = []
        var spec: ArchitectureSpec
        switch choice {
        case .spec(let given):
            spec = given
            reasons.append("architecture given by the user (spec '\(given.name)')")
        case .preset(let preset):
            spec = try instantiate(preset, structure, denseOutIn)
            reasons.append("architecture given by the user: preset \(preset.name)")
        case .detect:
            if let fileSpec = bundle.spec {
                spec = fileSpec
                reasons.append("the file describes its architecture (\(bundle.format)); matched as '\(fileSpec.name)'")
            } else if let text = bundle.metadata[CanonicalFile.specKey] {
                spec = try ArchitectureSpec.parse(json: text, source: "\(bundle.path) metadata \(CanonicalFile.specKey)")
                reasons.append("the file carries the architecture alexconv wrote into its metadata ('\(CanonicalFile.specKey)': \(spec.name))")
            } else {
                let (preset, why, others) = try detect(bundle, structure, denseOutIn, layout)
                spec = try instantiate(preset, structure, denseOutIn)
                reasons += why
                ambiguities += others
            }
        }
        try spec.validate()

        // Map found layers onto the spec's named layers, in order.
        var tensors: [String: Tensor] = [:]
        var nameMap: [(String, String)] = []
        let specConvs = spec.convs
        let specDenses = spec.denses
        let specNorms = spec.batchNorms
        func requireCount(_ what: String, _ found: Int, _ expected: Int) throws {
            if found != expected {
                throw ModelError("the file has \(found) \(what) layers, architecture \(spec.name) has \(expected)")
            }
        }
        try requireCount("conv", structure.convs.count, specConvs.count)
        try requireCount("dense", structure.denses.count, specDenses.count)
        try requireCount("batchnorm", structure.norms.count, specNorms.count)
        for (conv, target) in zip(structure.convs, specConvs) {
            tensors["\(target.name).weight"] = conv.oihw
            nameMap.append((conv.layer.weight.name, "\(target.name).weight"))
            if let b = conv.layer.bias {
                tensors["\(target.name).bias"] = b.tensor
                nameMap.append((b.name, "\(target.name).bias"))
            }
        }
        for (norm, target) in zip(structure.norms, specNorms) {
            for (source, suffix) in [(norm.weight, "weight"), (norm.bias, "bias"), (norm.mean, "running_mean"), (norm.variance, "running_var")] {
                guard let source else { continue }
                tensors["\(target.name).\(suffix)"] = source.tensor
                nameMap.append((source.name, "\(target.name).\(suffix)"))
            }
        }
        let map = try spec.flattenedMap()
        for (index, (dense, target)) in zip(structure.denses, specDenses).enumerated() {
            var w = dense.weight.tensor
            if layout == .channelsLast {
                if index == 0, let map, w.shape[0] == map.channels * map.height * map.width, map.height * map.width > 1 {
                    w = LayoutRules.fc6FromChannelsLast(w, channels: map.channels, height: map.height, width: map.width)
                } else {
                    w = LayoutRules.transposeDense(w)
                }
            }
            tensors["\(target.name).weight"] = w
            nameMap.append((dense.weight.name, "\(target.name).weight"))
            if let b = dense.bias {
                tensors["\(target.name).bias"] = b.tensor
                nameMap.append((b.name, "\(target.name).bias"))
            }
        }
        // Shapes must match the spec exactly; every tensor that does not is named, with its name in the file.
        let sourceNames = Dictionary(nameMap.map { ($0.1, $0.0) }, uniquingKeysWith: { first, _ in first })
        let ordered = try TensorMatcher.match(tensors.map { NamedTensor($0.key, $0.value) }, to: spec, sourceNames: sourceNames)
        let model = Model(
            spec: spec, tensors: ordered, source: "\(URL(fileURLWithPath: bundle.path).lastPathComponent) (\(bundle.format))",
            notes: bundle.notes)
        return Recognition(
            model: model, layout: layout, reasons: reasons, ambiguities: ambiguities,
            nameMap: nameMap, ignored: ignored)
    }

    static func instantiate(_ preset: Preset, _ s: Structure, _ dense: [(out: Int, in: Int)]) throws -> ArchitectureSpec {
        guard s.convs.count == 5, dense.count == 3 else {
            throw ModelError("preset \(preset.name) has 5 conv and 3 dense layers; the file has \(s.convs.count) conv and \(dense.count) dense")
        }
        guard s.groups == preset.groups else {
            throw ModelError("preset \(preset.name) has conv groups \(preset.groups); the file's weights imply \(s.groups)")
        }
        guard s.norms.isEmpty != preset.hasBatchNorm else {
            throw ModelError("preset \(preset.name) \(preset.hasBatchNorm ? "has" : "has no") batch normalisation; the file \(s.norms.isEmpty ? "has none" : "has \(s.norms.count) batchnorm layers")")
        }
        return preset.spec(convWidths: s.convWidths, fcWidths: [dense[0].out, dense[1].out], classes: dense[2].out)
    }

    static func detect(_ bundle: TensorBundle, _ s: Structure, _ dense: [(out: Int, in: Int)], _ layout: WeightLayout)
        throws -> (Preset, [String], [Alternative])
    {
        let found =
            "\(s.convs.count) conv layers (kernels \(s.kernels), widths \(s.convWidths), groups \(s.groups)), \(dense.count) dense layers (widths \(dense.map(\.out))), \(s.norms.count) batchnorm layers"
        guard s.convs.count == 5, dense.count == 3, s.kernels == [11, 5, 3, 3, 3] else {
            throw ModelError("the tensors match no preset: found \(found); name the architecture with a spec describing the layers", remedy: .nameArchitecture)
        }
        let components = Set(s.convs.map(\.layer.key) + s.denses.map(\.key) + s.norms.map(\.key))
            .flatMap { key in key.split(separator: "/").map(String.init) }
        func namingScore(_ p: Preset) -> Int {
            p.namingHints.filter { hint in components.contains { $0 == hint || $0.hasPrefix(hint + "_") } }.count
        }
        var candidates: [(preset: Preset, score: Int, why: [String])] = []
        for preset in Presets.all where preset.groups == s.groups && preset.hasBatchNorm == !s.norms.isEmpty {
            var score = 0
            var why: [String] = []
            let naming = namingScore(preset)
            if naming > 0 {
                score += 2 * naming
                why.append("tensor names follow its naming (\(preset.namingHints.joined(separator: ", ")))")
            }
            if s.convWidths == preset.convWidths && [dense[0].out, dense[1].out] == preset.fcWidths {
                score += 5
                why.append("widths \(preset.convWidths) and fc \(preset.fcWidths) are its published widths")
            }
            if layout == preset.usualLayout {
                score += 1
                why.append("the \(layout.rawValue) layout is how it is usually stored")
            }
            candidates.append((preset, score, why))
        }
        guard let bestScore = candidates.map(\.score).max(),
            let top = candidates.first(where: { $0.score == bestScore })
        else {
            throw ModelError("the tensors match no preset: found \(found); name the architecture (a preset or a spec)", remedy: .nameArchitecture)
        }
        var reasons = ["structure: \(found)", "chose preset '\(top.preset.name)': \(top.preset.summary)"]
        reasons += top.why.map { "  - \($0)" }
        let others = candidates.filter { $0.preset.name != top.preset.name }.map {
            Alternative(preset: $0.preset.name, fitsEquallyWell: $0.score == top.score, summary: $0.preset.summary)
        }
        return (top.preset, reasons, others)
    }
}

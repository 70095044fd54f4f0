import Foundation

extension Model {
    /// The same model with every grouped conv expanded to one tower (block-diagonal (out, in, kh, kw) weights, groups 1).
    /// Lossless: the expanded model computes exactly what the grouped one did.
    public func expandingTowers() -> Model {
        var copy = self
        copy.spec.layers = spec.layers.map { layer in
            guard case .conv(var c) = layer, c.groups > 1 else { return layer }
            if let w = self["\(c.name).weight"] { copy["\(c.name).weight"] = LayoutRules.expandTowers(w, groups: c.groups) }
            c.groups = 1
            return .conv(c)
        }
        copy.notes.append("expanded two-tower convolutions to one tower (block-diagonal weights)")
        return copy
    }

    /// The same model with the AlexNet two-tower pattern (groups 2 on conv2, conv4, conv5) restored.
    /// Only when the weights outside the diagonal blocks are exactly zero; otherwise a `ModelError`
    /// naming the layer and the largest off-block value.
    public func collapsingToTwoTowers() throws -> Model {
        let convs = spec.convs
        guard convs.count == 5 else {
            throw ModelError("splitting into two towers applies the AlexNet pattern (groups 2 on conv2, conv4, conv5) and needs 5 convolutions; this model has \(convs.count)")
        }
        let grouped = Set([convs[1].name, convs[3].name, convs[4].name])
        var copy = self
        var layers: [LayerSpec] = []
        for layer in spec.layers {
            guard case .conv(var c) = layer, grouped.contains(c.name) else {
                layers.append(layer)
                continue
            }
            if c.groups == 1 {
                let w = try tensor("\(c.name).weight")
                copy["\(c.name).weight"] = try LayoutRules.collapseTowers(w, groups: 2, layer: c.name)
                c.groups = 2
            } else if c.groups != 2 {
                throw ModelError(tensor: "\(c.name).weight", "has \(c.groups) groups; splitting into two towers needs one or two")
            }
            layers.append(.conv(c))
        }
        copy.spec.layers = layers
        try copy.validate()
        copy.notes.append("split conv2, conv4, conv5 into two towers (their off-diagonal blocks were zero)")
        return copy
    }

    /// The model converted to take `order` input: conv1's input channels reversed, mean/std reordered.
    /// Exact: the converted model on swapped input computes what the original did.
    public func withChannelOrder(_ order: ChannelOrder) throws -> Model {
        if spec.input.channelOrder == order { return self }
        guard spec.input.channels == 3, let first = spec.convs.first else {
            throw ModelError("changing the input channel order needs a 3-channel input; this model takes \(spec.input.channels)")
        }
        var copy = self
        copy["\(first.name).weight"] = LayoutRules.swapInputChannels(try tensor("\(first.name).weight"))
        copy.spec.input.channelOrder = order
        copy.spec.input.mean.reverse()
        copy.spec.input.std.reverse()
        copy.spec.input.meanImage = spec.input.meanImage?.reversedChannels()
        copy.notes.append("swapped conv1's input channels: the model now takes \(order.rawValue.uppercased()) input")
        return copy
    }

    /// Number of towers of each conv (1 or its groups), in order.
    public var towersPerConv: [Int] { spec.convs.map(\.groups) }
}

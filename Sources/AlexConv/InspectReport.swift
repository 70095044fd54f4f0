import Foundation

/// What `alexconv inspect` says about a file, in plain words (text) or as JSON.
package struct InspectReport {
    package var path: String
    package var bundle: TensorBundle
    package var recognition: Recognition?
    /// Why recognition failed, when it did (the file was still readable).
    package var recognitionError: String?

    /// Reads and recognises `path`; a recognition failure is reported, not thrown.
    package static func make(path: String, arch: String? = nil, map: String? = nil, options: ReaderOptions = ReaderOptions()) throws -> InspectReport {
        let (bundle, choice, nameMap) = try ModelLoader.read(path: path, arch: arch, map: map, options: options)
        do {
            let recognition = try Recognizer.recognize(bundle, choice: choice, map: nameMap)
            return InspectReport(path: path, bundle: bundle, recognition: recognition, recognitionError: nil)
        } catch let error as UserFacingError {
            return InspectReport(path: path, bundle: bundle, recognition: nil, recognitionError: error.commandLineMessage)
        }
    }

    static func layoutWords(_ layout: WeightLayout) -> String {
        switch layout {
        case .channelsLast:
            return "channels-last (TensorFlow/Keras): conv kernels (kh, kw, in/groups, out), dense (in, out), fc6 rows in (H, W, C) order"
        case .channelsFirst:
            return "channels-first (PyTorch/Caffe/ONNX): conv kernels (out, in/groups, kh, kw), dense (out, in), fc6 columns in (C, H, W) order"
        }
    }

    static func inputWords(_ input: InputSpec) -> String {
        let order = input.channelOrder.rawValue.uppercased()
        func list(_ v: [Double]) -> String { "(" + v.map { String(format: "%g", $0) }.joined(separator: ", ") + ")" }
        var scale = input.scale == 1 ? "pixels 0-255" : String(format: "pixels 0-255 times %g", input.scale)
        if input.mean.contains(where: { $0 != 0 }) { scale += " minus mean \(list(input.mean))" }
        if input.std.contains(where: { $0 != 1 }) { scale += " divided by std \(list(input.std))" }
        let resize =
            input.resize.map { size in
                input.effectiveResizeMode == .warp ? "warp to \(size)x\(size), centre crop; " : "resize shorter side to \(size), centre crop; "
            } ?? ""
        if let image = input.meanImage {
            scale += "; the mean is a \(image.channels)x\(image.height)x\(image.width) image, subtracted pixel by pixel from its centre crop"
        }
        return "\(input.height)x\(input.width) \(order) (\(order == "BGR" ? "blue first" : "red first")); \(resize)\(scale)"
    }

    /// The plain-words report.
    package var text: String {
        var lines: [String] = []
        lines.append("file: \(path)")
        lines.append("format: \(bundle.format)")
        lines.append("tensors (\(bundle.tensors.count)):")
        let width = min(40, bundle.tensors.map(\.name.count).max() ?? 0)
        for t in bundle.tensors {
            lines.append(
                "  \(t.name.padding(toLength: max(width, t.name.count), withPad: " ", startingAt: 0))  \(t.tensor.dtype.name.padding(toLength: 8, withPad: " ", startingAt: 0))  \(t.tensor.shape)")
        }
        for note in bundle.notes { lines.append("note: \(note)") }
        guard let r = recognition else {
            lines.append("architecture: not recognised: \(recognitionError ?? "unknown reason")")
            return lines.joined(separator: "\n")
        }
        let spec = r.model.spec
        lines.append("layout: \(Self.layoutWords(r.layout))")
        lines.append("architecture: \(spec.name)")
        for reason in r.reasons { lines.append("  \(reason)") }
        for other in r.ambiguities { lines.append("  ambiguous: \(other) (use --arch \(other.preset) if that is the model)") }
        lines.append("layers:")
        var previous = spec.input.channels
        for conv in spec.convs {
            let geometry = "\(conv.outChannels) filters \(conv.kernel[0])x\(conv.kernel[1]), stride \(conv.stride[0]), padding \(conv.padding)"
            if conv.groups == 1 {
                lines.append("  \(conv.name): \(geometry), one tower: every filter sees all \(previous) input channels")
            } else {
                lines.append(
                    "  \(conv.name): \(geometry), \(conv.groups) towers (groups=\(conv.groups)): each tower's \(conv.outChannels / conv.groups) filters see \(previous / conv.groups) of the \(previous) input channels, so the kernel stores \(previous / conv.groups) input channels per filter"
                )
            }
            previous = conv.outChannels
        }
        for bn in spec.batchNorms { lines.append("  \(bn.name): batch normalisation, epsilon \(bn.epsilon)") }
        if let map = try? spec.flattenedMap(), let first = spec.denses.first {
            let order =
                r.layout == .channelsLast
                ? "this file stores its rows in (H, W, C) order (channels-last flatten); the canonical model uses (C, H, W)" : "this file uses (C, H, W) order, as the canonical model does"
            lines.append("  \(first.name): takes the \(map.height)x\(map.width)x\(map.channels) map flattened (\(map.channels * map.height * map.width) inputs); \(order)")
        }
        for dense in spec.denses.dropFirst() { lines.append("  \(dense.name): \(dense.outFeatures) outputs") }
        lines.append("input: \(Self.inputWords(spec.input))")
        lines.append("output: \(spec.classes ?? 0) classes, \(spec.endsInSoftmax ? "probabilities (ends in softmax)" : "logits")")
        lines.append("parameters: \(r.model.parameterCount)")
        if !r.ignored.isEmpty { lines.append("ignored: \(r.ignored.joined(separator: ", "))") }
        lines.append("canonical names:")
        for (source, canonical) in r.nameMap where source != canonical { lines.append("  \(source) -> \(canonical)") }
        if r.nameMap.allSatisfy({ $0.source == $0.canonical }) { lines.append("  (already canonical)") }
        return lines.joined(separator: "\n")
    }

    /// The report as JSON (the `spec` field uses the same schema as `--arch spec.json`).
    package var json: String {
        var object: [String: Any] = [
            "file": path,
            "format": bundle.format,
            "tensors": bundle.tensors.map { ["name": $0.name, "dtype": $0.tensor.dtype.name, "shape": $0.tensor.shape] as [String: Any] },
            "notes": bundle.notes,
        ]
        if let r = recognition {
            let spec = r.model.spec
            object["layout"] = r.layout.rawValue
            object["architecture"] = spec.name
            object["reasons"] = r.reasons
            object["ambiguities"] = r.ambiguities.map(\.description)
            object["towers"] = Dictionary(uniqueKeysWithValues: spec.convs.map { ($0.name, $0.groups) })
            object["inputChannelOrder"] = spec.input.channelOrder.rawValue
            object["fc6InputOrder"] = r.layout == .channelsLast ? "HWC" : "CHW"
            object["classes"] = spec.classes ?? 0
            object["parameters"] = r.model.parameterCount
            object["ignored"] = r.ignored
            object["nameMap"] = Dictionary(r.nameMap.map { ($0.source, $0.canonical) }, uniquingKeysWith: { a, _ in a })
            object["spec"] = try? JSONSerialization.jsonObject(with: Data(spec.json().utf8))
        } else {
            object["architecture"] = NSNull()
            object["error"] = recognitionError ?? "not recognised"
        }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

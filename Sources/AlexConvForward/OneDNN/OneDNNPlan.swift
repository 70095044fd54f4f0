#if canImport(CDNNL)
    import CDNNL
    import Foundation
    import AlexConvCore

    // MARK: - A compiled oneDNN plan for one tile size

    /// Every primitive, reorder and buffer needed to run `batch` items through the spec's layers.
    ///
    /// Built once per (spec, tile size, threads, collecting, stopping point) and reused for every tile.
    /// Activations stay in the layouts the primitives prefer (blocked, e.g. nChw16c) from layer to layer;
    /// reorders appear only where a layout changes: the input (user NCHW), the final output, collected
    /// activations, and around the few layers oneDNN cannot compute exactly as the spec means them,
    /// which run as the reference ops on the reference (C, N, H, W) layout ("islands").
    final class OneDNNPlan {
        /// Buffer indices: the two activation buffers (ping-pong) and the shared scratchpad.
        static let scratchpadBuffer = 2

        enum Action {
            case primitive(DNNLPrimitive, [dnnl_exec_arg_t])
            /// Reference LRN (even window sizes) on (C, N, H, W) data from buffer to buffer.
            case lrn(LRNOp, from: Int, to: Int)
            /// Reference pooling (windows oneDNN's pooling does not share) on (C, N, H, W) data.
            case pool(PoolOp, from: Int, to: Int)
            /// Reference softmax in place on (N, width) rows.
            case softmax(buffer: Int, width: Int)
        }

        let batch: Int
        /// The staging layout the plan writes its output in (a features plan), nil for the caller's plain layout.
        let outputTag: dnnl_format_tag_t?
        let actions: [Action]
        /// Per layer (spec order): the implementations that compute it (`brgconv:avx512_core`, `reference`, ...).
        let implementations: [[String]]
        let buffers: [FloatArray]
        private let input: DNNLMemory
        private let output: DNNLMemory
        /// Collected activations: layer index -> plain-layout memory whose handle is set per tile.
        private let collected: [Int: DNNLMemory]
        /// Memory objects and primitives the actions refer to.
        private let retained: [AnyObject]

        init(
            batch: Int, outputTag: dnnl_format_tag_t?, actions: [Action], implementations: [[String]], buffers: [FloatArray],
            input: DNNLMemory, output: DNNLMemory, collected: [Int: DNNLMemory], retained: [AnyObject]
        ) {
            self.batch = batch
            self.outputTag = outputTag
            self.actions = actions
            self.implementations = implementations
            self.buffers = buffers
            self.input = input
            self.output = output
            self.collected = collected
            self.retained = retained
        }

        /// Runs one tile: `input` (batch, C, H, W, or a staging layout) to `output` (batch, ..., or a
        /// staging layout), and each collected layer's activation to `activations[layer]` (item-major,
        /// this tile's first item).
        func run(
            input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>,
            activations: [UnsafeMutablePointer<Float>], stream: DNNLStream
        ) throws {
            try input.setHandle(UnsafeMutableRawPointer(mutating: x))
            try output.setHandle(UnsafeMutableRawPointer(y))
            for (layer, memory) in collected { try memory.setHandle(UnsafeMutableRawPointer(activations[layer])) }
            for action in actions {
                switch action {
                case .primitive(let primitive, let arguments):
                    try stream.execute(primitive, arguments)
                case .lrn(let op, let from, let to):
                    try stream.wait()
                    op.run(input: buffers[from].pointer, output: buffers[to].pointer, batch: batch)
                case .pool(let op, let from, let to):
                    try stream.wait()
                    op.run(input: buffers[from].pointer, output: buffers[to].pointer, batch: batch)
                case .softmax(let buffer, let width):
                    try stream.wait()
                    Elementwise.softmax(buffers[buffer].pointer, rows: batch, width: width)
                }
            }
            try stream.wait()
        }
    }

    // MARK: - Building a plan

    /// A network's weights in the layouts its primitives asked for, prepared once from the model's
    /// tensors and shared by all its plans (a layout two plans agree on is prepared once).
    final class OneDNNWeights {
        private let model: Model
        private var prepared: [String: [DNNLMemory]] = [:]

        init(model: Model) { self.model = model }

        /// Tensor `name` in layout `wanted`; `dims` and `tag` describe its canonical layout. A tensor
        /// wanted in its canonical layout is copied as float32; any other layout is reordered straight
        /// from the model's bytes.
        func memory(_ name: String, dims: [Int], tag: dnnl_format_tag_t, wanted: dnnl_memory_desc_t, stream: DNNLStream) throws -> DNNLMemory {
            if let found = prepared[name]?.first(where: { $0.layout.sameLayout(as: wanted) }) { return found }
            let tensor = try model.tensor(name)
            guard tensor.count == dims.reduce(1, *) else { throw ForwardError("oneDNN plan: \(name) has \(tensor.count) elements, expected \(dims)") }
            let canonical = try dnnl_memory_desc_t.f32(dims, tag)
            let result: DNNLMemory
            if canonical.sameLayout(as: wanted) {
                let copy = FloatArray(tensor)
                result = try DNNLMemory(canonical, handle: UnsafeMutableRawPointer(copy.pointer), owner: copy)
            } else {
                let buffer = FloatArray(count: (wanted.byteCount + 3) / 4)
                result = try DNNLMemory(wanted, handle: UnsafeMutableRawPointer(buffer.pointer), owner: buffer)
                try tensor.withContiguousBytes(as: .float32) { bytes in
                    let user = try DNNLMemory(canonical, handle: UnsafeMutableRawPointer(mutating: bytes.baseAddress!))
                    let pd = try DNNLPrimitiveDescriptor.reorder(from: canonical, to: wanted, attributes: try DNNLAttributes())
                    let scratch = FloatArray(count: (pd.scratchpad.byteCount + 3) / 4)
                    let scratchMemory = try DNNLMemory(pd.scratchpad, handle: UnsafeMutableRawPointer(scratch.pointer), owner: scratch)
                    let reorder = try DNNLPrimitive(pd, what: "a weight reorder for \(name)")
                    try stream.execute(
                        reorder,
                        [
                            dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: user.raw),
                            dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: result.raw),
                            dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: scratchMemory.raw),
                        ])
                    try stream.wait()
                }
            }
            prepared[name, default: []].append(result)
            return result
        }
    }

    /// Builds a `OneDNNPlan` layer by layer, tracking the current activation (its memory, layout and
    /// buffer) and emitting primitives, reorders and reference islands.
    struct OneDNNPlanBuilder {
        /// Where a plan's output goes.
        enum Output: Hashable {
            /// The caller's buffer, plain (N, ...) layout.
            case plain
            /// A staging buffer for a classifier plan, in the layout the last layer produced when it is one
            /// of `stagingTags` (else NCHW).
            case staging
            /// A staging buffer in this layout (the remainder tile of a batch uses the full tile's).
            case stagingIn(dnnl_format_tag_t)
        }

        /// Staging layouts: every one keeps each image contiguous, so a tile's images sit at a plain offset.
        static let stagingTags: [dnnl_format_tag_t] = [dnnl_acdb, dnnl_aBcd16b, dnnl_aBcd8b, dnnl_abcd]

        let spec: ArchitectureSpec
        let shapes: [ActivationShape]
        let batch: Int
        let collect: Bool
        let stopAt: Int?
        let weights: OneDNNWeights
        let stream: DNNLStream
        /// The layers this plan runs (all of them, or the features / classifier part of a split batch).
        var layers: Range<Int>
        /// nil: the caller's (N, C, H, W) batch; else the staging layout of the map layer `layers.lowerBound - 1` produced.
        var inputTag: dnnl_format_tag_t?
        var output: Output = .plain

        /// The activation between two layers.
        struct Value {
            var memory: DNNLMemory
            /// oneDNN dimensions, batch first: [N, C, H, W] for maps (and for vectors flattened from a
            /// map that are still in the map's layout), [N, F] for vectors.
            var dims: [Int]
            var shape: ActivationShape
            /// Buffer holding it: 0 or 1, or -1 for the tile's input.
            var buffer: Int
        }

        private var actions: [OneDNNPlan.Action] = []
        private var implementations: [[String]] = []
        private var bindings: [(DNNLMemory, Int)] = []
        private var retained: [AnyObject] = []
        private var collected: [Int: DNNLMemory] = [:]

        init(
            spec: ArchitectureSpec, shapes: [ActivationShape], batch: Int, collect: Bool, stopAt: Int?,
            weights: OneDNNWeights, stream: DNNLStream
        ) {
            self.spec = spec
            self.shapes = shapes
            self.batch = batch
            self.collect = collect
            self.stopAt = stopAt
            self.weights = weights
            self.stream = stream
            layers = 0..<spec.layers.count
        }

        // MARK: Memory and actions

        /// A memory object of `layout` in plan buffer `buffer` (handle set once the buffers exist).
        private mutating func memory(_ layout: dnnl_memory_desc_t, buffer: Int) throws -> DNNLMemory {
            let m = try DNNLMemory(layout, handle: nil)
            bindings.append((m, buffer))
            return m
        }

        /// The buffer a new activation goes to: the one `value` does not occupy.
        private func fresh(_ value: Value) -> Int { value.buffer == 0 ? 1 : 0 }

        private mutating func emit(_ descriptor: DNNLPrimitiveDescriptor, _ arguments: [(Int32, DNNLMemory)], what: String, layer: Int) throws {
            let primitive = try DNNLPrimitive(descriptor, what: what)
            var args = arguments.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.raw) }
            let scratchpad = descriptor.scratchpad
            if scratchpad.byteCount > 0 {
                let m = try memory(scratchpad, buffer: OneDNNPlan.scratchpadBuffer)
                args.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: m.raw))
                retained.append(m)
            }
            retained.append(primitive)
            retained.append(contentsOf: arguments.map { $0.1 as AnyObject })
            actions.append(.primitive(primitive, args))
            if layer >= 0 { implementations[layer].append(primitive.implementation) }
        }

        /// `value` copied into `layout` in the other buffer.
        private mutating func reorder(_ value: Value, to layout: dnnl_memory_desc_t, layer: Int) throws -> Value {
            let buffer = fresh(value)
            let target = try memory(layout, buffer: buffer)
            let pd = try DNNLPrimitiveDescriptor.reorder(from: value.memory.layout, to: layout, attributes: try DNNLAttributes())
            try emit(pd, [(DNNL_ARG_FROM, value.memory), (DNNL_ARG_TO, target)], what: "a reorder", layer: layer)
            return Value(memory: target, dims: value.dims, shape: value.shape, buffer: buffer)
        }

        /// A reorder of `value` into `target` (memory whose handle the plan sets per tile).
        private mutating func copy(_ value: Value, into target: DNNLMemory) throws {
            let pd = try DNNLPrimitiveDescriptor.reorder(from: value.memory.layout, to: target.layout, attributes: try DNNLAttributes())
            try emit(pd, [(DNNL_ARG_FROM, value.memory), (DNNL_ARG_TO, target)], what: "an output reorder", layer: -1)
        }

        /// `value` in the plain layout of its dims (nchw / nc), reordering only when it is not already.
        private mutating func plain(_ value: Value, layer: Int) throws -> Value {
            let layout = try dnnl_memory_desc_t.plain(value.dims)
            if value.memory.layout.sameLayout(as: layout) { return value }
            return try reorder(value, to: layout, layer: layer)
        }

        /// A vector activation as plain (N, F) rows: a map flattened in its own layout is reordered to
        /// NCHW first, which is the channels-first flatten.
        private mutating func plainVector(_ value: Value, layer: Int) throws -> Value {
            var v = try owned(try plain(value, layer: layer), layer: layer)
            if v.dims.count != 2 {
                let rows = try dnnl_memory_desc_t.plain([batch, value.shape.count])
                v = Value(memory: try memory(rows, buffer: v.buffer), dims: [batch, value.shape.count], shape: value.shape, buffer: v.buffer)
            }
            return v
        }

        /// `value` in a plan buffer, for operations that run in place (never on the caller's input).
        private mutating func owned(_ value: Value, layer: Int) throws -> Value {
            value.buffer >= 0 ? value : try reorder(value, to: value.memory.layout, layer: layer)
        }

        /// The (C, N, H, W) layout the reference ops compute in, as strides over (N, C, H, W) dims.
        private func channelMajor(_ dims: [Int]) throws -> dnnl_memory_desc_t {
            let (n, h, w) = (dims[0], dims[2], dims[3])
            return try .f32(dims, strides: [h * w, n * h * w, w, 1])
        }

        /// Creates the primitive descriptor for `value`'s layout. When oneDNN has only its generic
        /// reference code (`ref:any`) for that layout, or nothing, the common layouts are tried in turn
        /// (nChw16c, nChw8c, nhwc, nchw) and the first with a JIT implementation wins, after a reorder.
        private mutating func descriptor(
            for value: Value, layer: Int, what: String,
            _ make: (dnnl_memory_desc_t) throws -> DNNLPrimitiveDescriptor?
        ) throws -> (DNNLPrimitiveDescriptor, Value) {
            let current = try make(value.memory.layout)
            if let current, !Self.isGeneric(current.implementation) { return (current, value) }
            let tags: [dnnl_format_tag_t] = value.dims.count == 4 ? [dnnl_aBcd16b, dnnl_aBcd8b, dnnl_acdb, dnnl_abcd] : [dnnl_ab]
            for tag in tags {
                let layout = try dnnl_memory_desc_t.f32(value.dims, tag)
                if layout.sameLayout(as: value.memory.layout) { continue }
                if let pd = try make(layout), current == nil || !Self.isGeneric(pd.implementation) {
                    return (pd, try reorder(value, to: layout, layer: layer))
                }
            }
            guard let current else { throw ForwardError("oneDNN has no implementation of \(what) for \(value.dims)") }
            return (current, value)
        }

        /// oneDNN's generic (non-JIT, scalar) implementations: `ref:any`, `lrn_ref:any`, `bnorm_ref:any`.
        static func isGeneric(_ implementation: String) -> Bool {
            implementation.hasPrefix("ref") || implementation.contains("_ref")
        }

        // MARK: Layers

        /// Builds the plan. `input` is the user's (N, C, H, W) batch.
        mutating func build() throws -> OneDNNPlan {
            let input = spec.input
            var inputShape = ActivationShape.map(channels: input.channels, height: input.height, width: input.width)
            if inputTag != nil, layers.lowerBound > 0 { inputShape = shapes[layers.lowerBound - 1] }
            guard case .map(let c, let h, let w) = inputShape else { throw ForwardError("oneDNN plan: a stage must start on a feature map") }
            let inputDims = [batch, c, h, w]
            let inputMemory = try DNNLMemory(try .f32(inputDims, inputTag ?? dnnl_abcd), handle: nil)
            retained.append(inputMemory)
            var current = Value(memory: inputMemory, dims: inputDims, shape: inputShape, buffer: -1)
            implementations = Array(repeating: [], count: spec.layers.count)
            var fusedReLU = false
            for index in layers {
                let layer = spec.layers[index]
                if let stopAt, index >= stopAt {
                    if collect { try collectActivation(current, layer: index) }
                    continue
                }
                let next = index + 1 < layers.upperBound ? spec.layers[index + 1] : nil
                let fuseNext = !collect && next == .relu && (stopAt.map { index + 1 < $0 } ?? true)
                if fusedReLU {
                    // This ReLU ran as the previous primitive's post-op.
                    fusedReLU = false
                    implementations[index].append("fused into layer \(index)")
                    continue
                }
                current = try build(layer, index: index, from: current, to: shapes[index], fuseReLU: fuseNext, fused: &fusedReLU)
                if collect { try collectActivation(current, layer: index) }
            }
            // The output: plain (N, ...) at the caller's pointer, or a staging layout for the classifier.
            var outputTag: dnnl_format_tag_t?
            switch output {
            case .plain: break
            case .stagingIn(let tag): outputTag = tag
            case .staging:
                guard current.dims.count == 4 else { throw ForwardError("oneDNN plan: staging needs a feature map") }
                outputTag = dnnl_abcd
                for tag in Self.stagingTags where (try dnnl_memory_desc_t.f32(current.dims, tag)).sameLayout(as: current.memory.layout) {
                    outputTag = tag
                    break
                }
            }
            let outputMemory = try DNNLMemory(outputTag.map { try .f32(current.dims, $0) } ?? .plain(current.dims), handle: nil)
            retained.append(outputMemory)
            try copy(current, into: outputMemory)
            return try finish(input: inputMemory, output: outputMemory, outputTag: outputTag)
        }

        private mutating func collectActivation(_ value: Value, layer: Int) throws {
            let target = try DNNLMemory(try .plain(value.dims), handle: nil)
            collected[layer] = target
            retained.append(target)
            try copy(value, into: target)
        }

        private mutating func finish(input: DNNLMemory, output: DNNLMemory, outputTag: dnnl_format_tag_t?) throws -> OneDNNPlan {
            var sizes = [0, 0, 0]
            for (m, b) in bindings { sizes[b] = max(sizes[b], m.layout.byteCount) }
            let buffers = sizes.map { FloatArray(count: ($0 + 3) / 4) }
            for (m, b) in bindings { try m.setHandle(UnsafeMutableRawPointer(buffers[b].pointer)) }
            return OneDNNPlan(
                batch: batch, outputTag: outputTag, actions: actions, implementations: implementations, buffers: buffers,
                input: input, output: output, collected: collected, retained: retained + bindings.map { $0.0 })
        }

        private mutating func build(
            _ layer: LayerSpec, index: Int, from current: Value, to shape: ActivationShape,
            fuseReLU: Bool, fused: inout Bool
        ) throws -> Value {
            let n = batch
            func fail(_ message: String) -> ForwardError {
                ForwardError("architecture \(spec.name): layer \(index + 1) (\(layer.typeName)): \(message)")
            }
            switch layer {
            case .conv(let c):
                guard case .map(let ci, _, _) = current.shape, case .map(let co, let oh, let ow) = shape else { throw fail("needs a feature map") }
                let g = c.groups
                let weightDims = g > 1 ? [g, co / g, ci / g, c.kernel[0], c.kernel[1]] : [co, ci, c.kernel[0], c.kernel[1]]
                var src = try dnnl_memory_desc_t.f32(current.dims, dnnl_format_tag_any)
                var wei = try dnnl_memory_desc_t.f32(weightDims, dnnl_format_tag_any)
                var bias = try dnnl_memory_desc_t.f32([co], dnnl_a)
                var dst = try dnnl_memory_desc_t.f32([n, co, oh, ow], dnnl_format_tag_any)
                let strides = c.stride.map(Int64.init)
                let padL = [c.padding[0], c.padding[1]].map(Int64.init)
                let padR = [c.padding[2], c.padding[3]].map(Int64.init)
                let attributes = try DNNLAttributes(fusedReLU: fuseReLU)
                var desc = dnnl_convolution_desc_t()
                try dnnlCheck(
                    c.bias
                        ? dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &wei, &bias, &dst, strides, padL, padR)
                        : dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &wei, nil, &dst, strides, padL, padR),
                    "describing \(c.name)")
                let pd = try DNNLPrimitiveDescriptor.make(&desc, attributes: attributes, what: "convolution \(c.name)")
                guard let pd else { throw fail("oneDNN has no convolution for it") }
                var source = current
                if !source.memory.layout.sameLayout(as: pd.source) { source = try reorder(source, to: pd.source, layer: index) }
                let weightMemory = try weights.memory(
                    "\(c.name).weight", dims: weightDims, tag: g > 1 ? dnnl_abcde : dnnl_abcd,
                    wanted: pd.weights, stream: stream)
                let buffer = fresh(source)
                let out = try memory(pd.destination, buffer: buffer)
                var args: [(Int32, DNNLMemory)] = [(DNNL_ARG_SRC, source.memory), (DNNL_ARG_WEIGHTS, weightMemory), (DNNL_ARG_DST, out)]
                if c.bias {
                    args.append((DNNL_ARG_BIAS, try weights.memory("\(c.name).bias", dims: [co], tag: dnnl_a, wanted: pd.layout(dnnl_query_weights_md, 1), stream: stream)))
                }
                try emit(pd, args, what: "convolution \(c.name)", layer: index)
                fused = fuseReLU
                return Value(memory: out, dims: [n, co, oh, ow], shape: shape, buffer: buffer)

            case .relu:
                let (pd, value) = try descriptor(for: try owned(current, layer: index), layer: index, what: "ReLU") { layout in
                    var data = layout
                    var desc = dnnl_eltwise_desc_t()
                    try dnnlCheck(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, dnnl_eltwise_relu, &data, 0, 0), "describing ReLU")
                    return try DNNLPrimitiveDescriptor.make(&desc, attributes: try DNNLAttributes(), what: "ReLU")
                }
                try emit(pd, [(DNNL_ARG_SRC, value.memory), (DNNL_ARG_DST, value.memory)], what: "ReLU", layer: index)
                return value

            case .lrn(let l):
                guard case .map(let ch, let h, let w) = current.shape else { throw fail("needs a feature map") }
                if l.size % 2 == 1 {
                    // oneDNN's window is c-(size-1)/2 ... c+(size-1)/2 and it divides alpha by size: the
                    // Caffe/PyTorch meaning for odd sizes.
                    let (pd, value) = try descriptor(for: current, layer: index, what: "LRN") { layout in
                        var data = layout
                        var desc = dnnl_lrn_desc_t()
                        try dnnlCheck(
                            dnnl_lrn_forward_desc_init(
                                &desc, dnnl_forward_inference, dnnl_lrn_across_channels, &data,
                                Int64(l.size), Float(l.alpha), Float(l.beta), Float(l.k)), "describing LRN")
                        return try DNNLPrimitiveDescriptor.make(&desc, attributes: try DNNLAttributes(), what: "LRN")
                    }
                    let buffer = fresh(value)
                    let out = try memory(pd.destination, buffer: buffer)
                    try emit(pd, [(DNNL_ARG_SRC, value.memory), (DNNL_ARG_DST, out)], what: "LRN", layer: index)
                    return Value(memory: out, dims: value.dims, shape: shape, buffer: buffer)
                }
                // Even sizes: PyTorch's window leans backward (c-size/2 ... c+(size-1)/2); oneDNN's does not.
                let op = LRNOp(channels: ch, plane: h * w, size: l.size, alpha: Float(l.alpha), beta: Float(l.beta), k: Float(l.k))
                return try island(current, index: index, shape: shape) { .lrn(op, from: $0, to: $1) }

            case .batchNorm(let b):
                // In place; a vector is normalised per feature, as (N, F, 1, 1) rows.
                let channels: Int
                var data = try owned(current, layer: index)
                var rows: Value?
                switch current.shape {
                case .map(let c, _, _):
                    channels = c
                case .vector(let f):
                    channels = f
                    let plainRows = try plainVector(data, layer: index)
                    rows = plainRows
                    data = Value(
                        memory: try memory(try .plain([n, f, 1, 1]), buffer: plainRows.buffer), dims: [n, f, 1, 1],
                        shape: shape, buffer: plainRows.buffer)
                }
                let epsilon = Float(b.epsilon)
                let flags = dnnl_use_global_stats.rawValue | dnnl_use_scale.rawValue | dnnl_use_shift.rawValue
                let (pd, value) = try descriptor(for: data, layer: index, what: "batch norm") { layout in
                    var d = layout
                    var desc = dnnl_batch_normalization_desc_t()
                    try dnnlCheck(dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_inference, &d, epsilon, flags), "describing \(b.name)")
                    return try DNNLPrimitiveDescriptor.make(&desc, attributes: try DNNLAttributes(), what: "batch norm \(b.name)")
                }
                let vectorLayout = try dnnl_memory_desc_t.f32([channels], dnnl_a)
                func parameter(_ suffix: String) throws -> DNNLMemory {
                    try weights.memory("\(b.name).\(suffix)", dims: [channels], tag: dnnl_a, wanted: vectorLayout, stream: stream)
                }
                try emit(
                    pd,
                    [
                        (DNNL_ARG_SRC, value.memory), (DNNL_ARG_DST, value.memory),
                        (DNNL_ARG_MEAN, try parameter("running_mean")), (DNNL_ARG_VARIANCE, try parameter("running_var")),
                        (DNNL_ARG_SCALE, try parameter("weight")), (DNNL_ARG_SHIFT, try parameter("bias")),
                    ],
                    what: "batch norm \(b.name)", layer: index)
                return rows ?? value

            case .maxPool(let p), .avgPool(let p):
                guard case .map(let ch, let h, let w) = current.shape, case .map(_, let oh, let ow) = shape else { throw fail("needs a feature map") }
                let isMax: Bool
                if case .maxPool = layer { isMax = true } else { isMax = false }
                let window = OneDNNPooling(height: h, width: w, outHeight: oh, outWidth: ow, kernel: p.kernel, stride: p.stride, padding: p.padding)
                if window.exact(max: isMax, countIncludePad: p.countIncludePad) {
                    let algorithm = isMax ? dnnl_pooling_max : (p.countIncludePad ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding)
                    return try pool(
                        current, index: index, shape: shape, algorithm: algorithm, kernel: p.kernel, stride: p.stride,
                        padL: [p.padding[0], p.padding[1]], padR: window.endPadding)
                }
                let kind: PoolOp.Kind = isMax ? .max : .average(countIncludePad: p.countIncludePad)
                let op = PoolOp(
                    kind: kind, channels: ch, height: h, width: w, outHeight: oh, outWidth: ow,
                    kernelH: p.kernel[0], kernelW: p.kernel[1], strideH: p.stride[0], strideW: p.stride[1], padding: p.padding)
                return try island(current, index: index, shape: shape) { .pool(op, from: $0, to: $1) }

            case .adaptiveAvgPool:
                guard case .map(let ch, let h, let w) = current.shape, case .map(_, let oh, let ow) = shape else { throw fail("needs a feature map") }
                if h == oh && w == ow {
                    implementations[index].append("identity")
                    return current
                }
                if h % oh == 0 && w % ow == 0 {
                    // Equal windows: an ordinary average pool with kernel = stride = In/Out, no padding.
                    let k = [h / oh, w / ow]
                    return try pool(
                        current, index: index, shape: shape, algorithm: dnnl_pooling_avg_exclude_padding,
                        kernel: k, stride: k, padL: [0, 0], padR: [0, 0])
                }
                let op = PoolOp(
                    kind: .adaptiveAverage, channels: ch, height: h, width: w, outHeight: oh, outWidth: ow,
                    kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padding: [0, 0, 0, 0])
                return try island(current, index: index, shape: shape) { .pool(op, from: $0, to: $1) }

            case .flatten:
                // The map keeps its layout until a layer needs rows: then it is reordered to NCHW, the
                // channels-first flatten (dropout in between changes nothing).
                var value = current
                value.shape = shape
                implementations[index].append("no-op")
                return value

            case .dense(let d):
                guard case .vector(let inFeatures) = current.shape else { throw fail("needs a vector") }
                // A flattened map is reordered to (N, C*H*W) rows first, the channels-first flatten fc6's
                // weight columns follow (a few KB per image; oneDNN's brgemm inner product then runs
                // on 2-D rows, measured faster than its gemm path on the 4-D map).
                let current = try plainVector(current, layer: index)
                let weightDims = [d.outFeatures, inFeatures]
                let attributes = try DNNLAttributes(fusedReLU: fuseReLU)
                let (pd, value) = try descriptor(for: current, layer: index, what: "dense \(d.name)") { layout in
                    var src = layout
                    var wei = try dnnl_memory_desc_t.f32(weightDims, dnnl_format_tag_any)
                    var bias = try dnnl_memory_desc_t.f32([d.outFeatures], dnnl_a)
                    var dst = try dnnl_memory_desc_t.f32([n, d.outFeatures], dnnl_ab)
                    var desc = dnnl_inner_product_desc_t()
                    try dnnlCheck(
                        d.bias
                            ? dnnl_inner_product_forward_desc_init(&desc, dnnl_forward_inference, &src, &wei, &bias, &dst)
                            : dnnl_inner_product_forward_desc_init(&desc, dnnl_forward_inference, &src, &wei, nil, &dst),
                        "describing \(d.name)")
                    return try DNNLPrimitiveDescriptor.make(&desc, attributes: attributes, what: "dense \(d.name)")
                }
                let weightMemory = try weights.memory(
                    "\(d.name).weight", dims: weightDims, tag: dnnl_ab,
                    wanted: pd.weights, stream: stream)
                let buffer = fresh(value)
                let out = try memory(pd.destination, buffer: buffer)
                var args: [(Int32, DNNLMemory)] = [(DNNL_ARG_SRC, value.memory), (DNNL_ARG_WEIGHTS, weightMemory), (DNNL_ARG_DST, out)]
                if d.bias {
                    args.append(
                        (
                            DNNL_ARG_BIAS,
                            try weights.memory(
                                "\(d.name).bias", dims: [d.outFeatures], tag: dnnl_a,
                                wanted: pd.layout(dnnl_query_weights_md, 1), stream: stream)
                        ))
                }
                try emit(pd, args, what: "dense \(d.name)", layer: index)
                fused = fuseReLU
                return Value(memory: out, dims: [n, d.outFeatures], shape: shape, buffer: buffer)

            case .dropout:
                implementations[index].append("identity")
                return current

            case .softmax:
                guard case .vector(let width) = current.shape else { throw fail("softmax needs a vector") }
                let value = try plainVector(try owned(current, layer: index), layer: index)
                actions.append(.softmax(buffer: value.buffer, width: width))
                implementations[index].append("reference")
                return value
            }
        }

        /// A oneDNN pooling primitive from `current` into the other buffer.
        private mutating func pool(
            _ current: Value, index: Int, shape: ActivationShape, algorithm: dnnl_alg_kind_t,
            kernel: [Int], stride: [Int], padL: [Int], padR: [Int]
        ) throws -> Value {
            guard case .map(let ch, let oh, let ow) = shape else { throw ForwardError("pooling needs a feature map") }
            let outDims = [batch, ch, oh, ow]
            let (pd, value) = try descriptor(for: current, layer: index, what: "pooling") { layout in
                var src = layout
                var dst = try dnnl_memory_desc_t.f32(outDims, dnnl_format_tag_any)
                var desc = dnnl_pooling_v2_desc_t()
                try dnnlCheck(
                    dnnl_pooling_v2_forward_desc_init(
                        &desc, dnnl_forward_inference, algorithm, &src, &dst,
                        stride.map(Int64.init), kernel.map(Int64.init), [0, 0],
                        padL.map(Int64.init), padR.map(Int64.init)), "describing pooling")
                return try DNNLPrimitiveDescriptor.make(&desc, attributes: try DNNLAttributes(), what: "pooling")
            }
            let buffer = fresh(value)
            let out = try memory(pd.destination, buffer: buffer)
            try emit(pd, [(DNNL_ARG_SRC, value.memory), (DNNL_ARG_DST, out)], what: "pooling", layer: index)
            return Value(memory: out, dims: outDims, shape: shape, buffer: buffer)
        }

        /// A reference op on a map: reorder to (C, N, H, W), run the op into the other buffer; the
        /// result is described in that layout (the next primitive reorders it as it needs).
        private mutating func island(
            _ current: Value, index: Int, shape: ActivationShape,
            _ action: (Int, Int) -> OneDNNPlan.Action
        ) throws -> Value {
            guard case .map(let ch, let oh, let ow) = shape else { throw ForwardError("reference island needs a feature map") }
            let source = try reorder(current, to: try channelMajor(current.dims), layer: index)
            let buffer = fresh(source)
            let outDims = [batch, ch, oh, ow]
            let out = try memory(try channelMajor(outDims), buffer: buffer)
            retained.append(out)
            actions.append(action(source.buffer, buffer))
            implementations[index].append("reference")
            return Value(memory: out, dims: outDims, shape: shape, buffer: buffer)
        }
    }

    // MARK: - Pooling windows

    /// One pooling layer's windows, and whether oneDNN's pooling computes exactly what the spec means.
    struct OneDNNPooling {
        let height: Int, width: Int, outHeight: Int, outWidth: Int
        let kernel: [Int], stride: [Int]
        /// [top, left, bottom, right].
        let padding: [Int]

        /// The end padding oneDNN needs for the spec's output size: the spec's own, or more where ceil
        /// mode adds a last, partial window (oneDNN rounds down, so the extra rows/columns are padding).
        var endPadding: [Int] {
            [
                max(padding[2], (outHeight - 1) * stride[0] + kernel[0] - height - padding[0]),
                max(padding[3], (outWidth - 1) * stride[1] + kernel[1] - width - padding[1]),
            ]
        }

        /// True when oneDNN's result equals the reference for every window: each window overlaps the
        /// input (oneDNN and the reference disagree on windows made only of padding), and for averages
        /// that count padding, no window reaches past the spec's padding (PyTorch's divisor clips the
        /// window to the padded input; oneDNN's is always kh*kw).
        func exact(max: Bool, countIncludePad: Bool) -> Bool {
            let axes = [
                (height, outHeight, kernel[0], stride[0], padding[0], padding[2]),
                (width, outWidth, kernel[1], stride[1], padding[1], padding[3]),
            ]
            for (size, out, k, s, begin, end) in axes {
                if k <= begin || (out - 1) * s - begin >= size { return false }
                if !max && countIncludePad && (out - 1) * s - begin + k > size + end { return false }
            }
            return true
        }
    }
#endif

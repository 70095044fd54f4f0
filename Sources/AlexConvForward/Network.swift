import AlexConvCore
import Foundation

// MARK: - Errors

/// The forward pass cannot run on the given input (wrong shape or dtype), or the model cannot be compiled.
public struct ForwardError: UserFacingError, Equatable {
    /// What was wrong, stating the expected shape or dtype.
    public var detail: String
    /// An error saying `detail`.
    public init(_ detail: String) { self.detail = detail }
    public var exitCode: Int32 { ExitStatus.invalidInput }
    public var description: String { detail }
}

// MARK: - Activations

/// One layer's output, kept when the pass collects activations (for `diff`).
public struct LayerActivation: Sendable {
    /// Position of the layer in the spec's chain, from 0.
    public let index: Int
    /// A readable name: the tensor prefix for conv/batchnorm/dense (`conv2`), else `<type>@<position>` (`lrn@3`).
    public let name: String
    /// The activation: (N, C, H, W) for feature maps, (N, F) for vectors.
    public let tensor: Tensor
}

/// What one layer of the plan does, compiled from a `LayerSpec`.
enum CompiledStep {
    case conv(ConvolutionOp)
    case winograd(WinogradConvolutionOp)
    /// max(x, 0) in place over `perItem` values of each item.
    case relu(perItem: Int)
    case lrn(LRNOp)
    case batchNorm(BatchNormOp)
    case pool(PoolOp)
    /// (C, N, H, W) map to (N, C*H*W) vector (channels-first flatten); identity on vectors.
    case flatten(channels: Int, plane: Int)
    case dense(DenseOp)
    case identity
    case softmax(width: Int)
}

// MARK: - Network

/// alexconv's forward pass: a model's spec and canonical tensors compiled once into a plan.
///
/// `run` takes a float32 batch (N, C, H, W) at the spec's input size, fed straight to the first
/// layer, and returns the last layer's output: (N, classes) for classifiers, (N, C, H, W) for a chain
/// that ends in a feature map. The layers run on oneDNN where the build has it (`kernels`), else on
/// the reference path, where activations are laid out (C, N, H, W) so each convolution is one
/// GEMM per group over the whole batch. Work buffers are sized per batch size and reused; large
/// batches run in tiles. Calls are serialised by a lock.
public final class Network: @unchecked Sendable {
    /// Largest number of images run through the buffers at once (bounds memory for big batches).
    public static let maxChunk = 16
    /// Largest activation or scratch buffer accepted, in float elements (4 GiB).
    public static let maxBufferElements = 1 << 30

    /// The architecture the plan was compiled from.
    public let spec: ArchitectureSpec
    /// Input shape of one item: [C, H, W].
    public let inputShape: [Int]
    /// Each layer's output shape for one item.
    public let layerShapes: [ActivationShape]
    let steps: [CompiledStep]
    /// The kernels this network runs: `.oneDNN` or `.reference`.
    public let kernels: ForwardKernels
    /// The oneDNN implementation, when `kernels` is `.oneDNN` (then `steps` is empty).
    let accelerated: AcceleratedForward?
    /// Index of the final softmax (skipped with `logits`), if the chain ends in one.
    let finalSoftmax: Int?
    private let lock = NSLock()
    private var workspace: Workspace?

    /// Compiles `model` (validated against its spec) into a plan for `kernels` (default: oneDNN
    /// where available, else the reference path).
    public init(model: Model, kernels: ForwardKernels = .automatic) throws {
        try model.validate()
        Network.singleThreadedBLAS
        spec = model.spec
        inputShape = [spec.input.channels, spec.input.height, spec.input.width]
        layerShapes = try spec.activationShapes()
        var softmaxIndex: Int?
        if spec.endsInSoftmax {
            softmaxIndex = spec.layers.lastIndex { if case .softmax = $0 { return true } else { return false } }
        }
        finalSoftmax = softmaxIndex
        for shape in layerShapes where shape.count > Network.maxBufferElements / Network.maxChunk {
            throw ForwardError("architecture \(spec.name): an activation of \(shape) is larger than the forward pass supports")
        }
        accelerated = kernels == .reference ? nil : try makeOneDNNForward(model: model, shapes: layerShapes)
        if kernels == .oneDNN && accelerated == nil {
            throw ForwardError("oneDNN kernels are not available in this build")
        }
        self.kernels = accelerated == nil ? .reference : .oneDNN
        var steps: [CompiledStep] = []
        if accelerated == nil {
            var previous = ActivationShape.map(channels: spec.input.channels, height: spec.input.height, width: spec.input.width)
            for (index, (layer, shape)) in zip(spec.layers, layerShapes).enumerated() {
                steps.append(try Network.compile(layer, index: index, from: previous, to: shape, model: model))
                previous = shape
            }
        }
        self.steps = steps
    }

    /// The implementation behind each layer (spec order) for a batch of `batch` items: oneDNN's
    /// names (`brgconv:avx512_core`, `gemm:jit`, reorders included) or `reference`.
    public func implementations(batch: Int = 1) throws -> [(layer: String, kernels: [String])] {
        lock.lock()
        defer { lock.unlock() }
        let names = try accelerated?.implementations(batch: min(max(batch, 1), accelerated?.tile ?? 1))
        return spec.layers.indices.map { (layerName($0), names?[$0] ?? ["reference"]) }
    }

    /// Whether networks compiled from now on run 3x3 stride-1 convolutions with Winograd F(2x2, 3x3)
    /// (default) or with im2col + GEMM like the other convolutions. Both match the frameworks to ~1e-7.
    public static var usesWinograd: Bool {
        get { WinogradConvolutionOp.enabled }
        set { WinogradConvolutionOp.enabled = newValue }
    }

    /// Sets the cores the forward pass uses (default: all): oneDNN's OpenMP threads, and on the
    /// reference path the pieces the forward pass splits work into (the BLAS runs single-threaded
    /// inside each piece).
    public static func setThreads(_ count: Int) {
        Parallel.workers = max(1, count)
        BLAS.setThreads(1)
    }

    /// The output for a float batch (N, C, H, W): (N, classes), or (N, C, H, W) for a chain ending in a feature map, float32; `logits` stops before a final softmax.
    public func run(_ input: Tensor, logits: Bool = false) throws -> Tensor {
        try execute(input, logits: logits, collect: false).output
    }

    /// The output plus every layer's activation in spec order: (N, C, H, W) for feature maps, (N, F) for vectors.
    public func runCollectingActivations(_ input: Tensor, logits: Bool = false) throws -> (output: Tensor, activations: [LayerActivation]) {
        try execute(input, logits: logits, collect: true)
    }

    /// Set once: the BLAS runs single-threaded; the forward pass splits GEMMs across cores itself.
    static let singleThreadedBLAS: Void = BLAS.setThreads(1)

    /// A readable name for layer `index` (see `LayerActivation.name`).
    public func layerName(_ index: Int) -> String {
        switch spec.layers[index] {
        case .conv(let c): return c.name
        case .batchNorm(let b): return b.name
        case .dense(let d): return d.name
        default: return "\(spec.layers[index].typeName)@\(index + 1)"
        }
    }

    // MARK: - Running

    private func checkInput(_ input: Tensor) throws -> Int {
        guard input.dtype.isFloatingPoint else {
            throw ForwardError("input has dtype \(input.dtype.name), expected float32")
        }
        let expected = "(N, \(inputShape.map(String.init).joined(separator: ", ")))"
        guard input.rank == 4 else {
            throw ForwardError("input has shape \(input.shape), expected \(expected) (channels-first batch)")
        }
        guard Array(input.shape.dropFirst()) == inputShape else {
            throw ForwardError("input has shape \(input.shape), expected \(expected) for architecture \(spec.name)")
        }
        guard input.shape[0] > 0 else { throw ForwardError("input batch is empty (shape \(input.shape))") }
        return input.shape[0]
    }

    private func execute(_ input: Tensor, logits: Bool, collect: Bool) throws -> (output: Tensor, activations: [LayerActivation]) {
        let batch = try checkInput(input)
        let stopAt = logits ? finalSoftmax : nil
        let outShape = layerShapes.last ?? .map(channels: inputShape[0], height: inputShape[1], width: inputShape[2])
        let perItem = outShape.count
        let (outputStorage, outputBytes) = ByteStorage.zeroed(count: batch * perItem * 4)
        let outputPointer = outputBytes.baseAddress!.bindMemory(to: Float.self, capacity: max(batch * perItem, 1))
        var activationBuffers: [FloatArray] = collect ? layerShapes.map { FloatArray(count: batch * $0.count) } : []
        let source = input.contiguous(as: .float32)
        try source.withContiguousBytes { bytes in
            let x = bytes.bindMemory(to: Float.self).baseAddress!
            lock.lock()
            defer { lock.unlock() }
            let progress = ProgressLine("forward pass", total: batch, unit: .items("images"))
            defer { progress.finish() }
            let itemInput = inputShape.reduce(1, *)
            let chunk = accelerated?.tile ?? Network.maxChunk
            var start = 0
            while start < batch {
                let n = min(chunk, batch - start)
                if let accelerated {
                    let activations = collect ? zip(activationBuffers, layerShapes).map { $0.pointer + start * $1.count } : []
                    try accelerated.run(
                        input: x + start * itemInput, output: outputPointer + start * perItem, activations: activations,
                        count: n, collect: collect, stopAt: stopAt)
                } else {
                    try runReference(
                        x + start * itemInput, start: start, count: n, batch: batch, output: outputPointer,
                        activations: activationBuffers, collect: collect, stopAt: stopAt)
                }
                start += n
                progress.update(completed: start)
            }
        }
        let outputDims: [Int]
        switch outShape {
        case .map(let c, let h, let w): outputDims = [batch, c, h, w]
        case .vector(let f): outputDims = [batch, f]
        }
        let output = try Tensor(storage: outputStorage, dtype: .float32, shape: outputDims, name: "output")
        var activations: [LayerActivation] = []
        if collect {
            for (index, shape) in layerShapes.enumerated() {
                let buffer = activationBuffers[index]
                let dims: [Int]
                switch shape {
                case .map(let c, let h, let w): dims = [batch, c, h, w]
                case .vector(let f): dims = [batch, f]
                }
                let storage = ByteStorage(viewing: UnsafeRawBufferPointer(start: buffer.pointer, count: buffer.count * 4), keepingAlive: buffer)
                activations.append(
                    LayerActivation(
                        index: index, name: layerName(index),
                        tensor: try Tensor(storage: storage, dtype: .float32, shape: dims, name: layerName(index))))
            }
            activationBuffers.removeAll()
        }
        return (output, activations)
    }

    /// Runs items `start ..< start + count` of a `batch` through the reference steps.
    private func runReference(
        _ x: UnsafePointer<Float>, start: Int, count n: Int, batch: Int, output outputPointer: UnsafeMutablePointer<Float>,
        activations activationBuffers: [FloatArray], collect: Bool, stopAt: Int?
    ) throws {
        let workspace = try workspace(batch: n)
        var shape = ActivationShape.map(channels: inputShape[0], height: inputShape[1], width: inputShape[2])
        var current = workspace.a.pointer
        var spare = workspace.b.pointer
        ActivationLayout.toChannelMajor(x, current, channels: inputShape[0], plane: inputShape[1] * inputShape[2], batch: n)
        for (index, step) in steps.enumerated() {
            if let stopAt, index >= stopAt {
                if collect { copyOut(current, shape, into: activationBuffers[index].pointer, batchStart: start, chunk: n, batch: batch) }
                continue
            }
            let wroteSpare = run(step, current, spare, workspace.scratch.pointer, n)
            if wroteSpare { swap(&current, &spare) }
            shape = layerShapes[index]
            if collect { copyOut(current, shape, into: activationBuffers[index].pointer, batchStart: start, chunk: n, batch: batch) }
        }
        copyOut(current, shape, into: outputPointer, batchStart: start, chunk: n, batch: batch)
    }

    /// Runs one step; returns true when it wrote `spare` (the caller swaps), false when in place.
    private func run(
        _ step: CompiledStep, _ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        _ scratch: UnsafeMutablePointer<Float>, _ n: Int
    ) -> Bool {
        switch step {
        case .conv(let op):
            op.run(input: x, output: y, scratch: scratch, batch: n)
            return true
        case .winograd(let op):
            op.run(input: x, output: y, scratch: scratch, batch: n)
            return true
        case .relu(let perItem):
            Elementwise.relu(x, count: n * perItem)
            return false
        case .lrn(let op):
            op.run(input: x, output: y, batch: n)
            return true
        case .batchNorm(let op):
            op.run(x, batch: n)
            return false
        case .pool(let op):
            op.run(input: x, output: y, batch: n)
            return true
        case .flatten(let channels, let plane):
            ActivationLayout.toItemMajor(x, y, channels: channels, plane: plane, batch: n)
            return true
        case .dense(let op):
            op.run(input: x, output: y, batch: n)
            return true
        case .identity:
            return false
        case .softmax(let width):
            Elementwise.softmax(x, rows: n, width: width)
            return false
        }
    }

    /// Copies a chunk's activation (layout of `shape`, internal) into an item-major (N, ...) buffer.
    private func copyOut(
        _ x: UnsafePointer<Float>, _ shape: ActivationShape, into out: UnsafeMutablePointer<Float>,
        batchStart: Int, chunk: Int, batch: Int
    ) {
        switch shape {
        case .map(let c, let h, let w):
            ActivationLayout.toItemMajor(x, out + batchStart * c * h * w, channels: c, plane: h * w, batch: chunk)
        case .vector(let f):
            (out + batchStart * f).update(from: x, count: chunk * f)
        }
    }

    // MARK: - Buffers

    /// Buffers for one chunk size: two activation buffers (ping-pong) and im2col scratch.
    final class Workspace {
        let batch: Int
        let a: FloatArray, b: FloatArray, scratch: FloatArray
        init(batch: Int, activation: Int, scratch: Int) {
            self.batch = batch
            a = FloatArray(count: activation)
            b = FloatArray(count: activation)
            self.scratch = FloatArray(count: scratch)
        }
    }

    private func workspace(batch: Int) throws -> Workspace {
        if let workspace, workspace.batch == batch { return workspace }
        workspace = nil
        var largest = inputShape.reduce(1, *)
        for shape in layerShapes { largest = max(largest, shape.count) }
        var scratch = 0
        for step in steps {
            if case .conv(let op) = step { scratch = max(scratch, op.scratchCount(batch: 1)) }
            if case .winograd(let op) = step { scratch = max(scratch, op.scratchCount(batch: 1)) }
        }
        let activation = try checkedMultiply(largest, batch, what: "activation buffer")
        let scratchTotal = try checkedMultiply(scratch, batch, what: "im2col buffer")
        guard activation <= Network.maxBufferElements, scratchTotal <= Network.maxBufferElements else {
            throw ForwardError("architecture \(spec.name): buffers of \(max(activation, scratchTotal)) floats exceed the limit \(Network.maxBufferElements)")
        }
        let created = Workspace(batch: batch, activation: activation, scratch: scratchTotal)
        workspace = created
        return created
    }
}

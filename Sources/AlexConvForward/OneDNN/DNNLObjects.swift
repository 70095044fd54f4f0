#if canImport(CDNNL)
    import CDNNL
    import Foundation

    // MARK: - oneDNN objects owned by Swift

    /// Throws a `ForwardError` naming `what` when a oneDNN call did not succeed.
    @inline(__always)
    func dnnlCheck(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws {
        guard status == dnnl_success else { throw ForwardError("oneDNN: \(what()) failed (\(DNNL.name(of: status)))") }
    }

    /// The process-wide CPU engine and the library's facts (version, ISA, threading runtime).
    enum DNNL {
        /// The CPU engine, created once; nil when libdnnl cannot create one (then the reference path runs).
        nonisolated(unsafe) static let engine: dnnl_engine_t? = {
            var engine: dnnl_engine_t?
            return dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success ? engine : nil
        }()

        /// "2.6.3".
        static var version: String {
            guard let v = dnnl_version()?.pointee else { return "unknown" }
            return "\(v.major).\(v.minor).\(v.patch)"
        }

        /// The threading runtime the loaded libdnnl was built with.
        static var runtime: String {
            switch dnnl_version()?.pointee.cpu_runtime ?? 0 {
            case DNNL_RUNTIME_OMP: return "OpenMP"
            case DNNL_RUNTIME_TBB: return "TBB"
            case DNNL_RUNTIME_THREADPOOL: return "threadpool"
            case DNNL_RUNTIME_SEQ: return "sequential"
            default: return "unknown runtime"
            }
        }

        /// The instruction set oneDNN's JIT generates code for on this CPU (`dnnl_get_effective_cpu_isa`).
        static var isa: String {
            let isa = dnnl_get_effective_cpu_isa()
            let names: [(dnnl_cpu_isa_t, String)] = [
                (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"), (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"),
                (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"), (dnnl_cpu_isa_avx512_core, "avx512_core"),
                (dnnl_cpu_isa_avx512_mic_4ops, "avx512_mic_4ops"), (dnnl_cpu_isa_avx512_mic, "avx512_mic"),
                (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"), (dnnl_cpu_isa_avx2, "avx2"), (dnnl_cpu_isa_avx, "avx"),
                (dnnl_cpu_isa_sse41, "sse41"),
            ]
            return names.first { $0.0 == isa }?.1 ?? "isa 0x\(String(isa.rawValue, radix: 16))"
        }

        /// Float lanes of the widest vectors the effective ISA uses (16 for AVX-512, 8 for AVX/AVX2, 4 for SSE4.1).
        static var vectorLanes: Int {
            let name = isa
            if name.hasPrefix("avx512") { return 16 }
            if name.hasPrefix("avx") { return 8 }
            return 4
        }

        /// Sets the OpenMP thread count for the calling thread (oneDNN reads it when it creates and runs
        /// primitives). False when libdnnl does not use OpenMP.
        @discardableResult
        static func setThreads(_ count: Int) -> Bool {
            acx_omp_set_num_threads(Int32(max(1, count))) != 0
        }

        /// The OpenMP thread count of the calling thread (nil without OpenMP).
        static var threads: Int? {
            let n = acx_omp_get_max_threads()
            return n > 0 ? Int(n) : nil
        }

        static func name(of status: dnnl_status_t) -> String {
            switch status {
            case dnnl_out_of_memory: return "out of memory"
            case dnnl_invalid_arguments: return "invalid arguments"
            case dnnl_unimplemented: return "unimplemented"
            case dnnl_iterator_ends: return "iterator ends"
            case dnnl_runtime_error: return "runtime error"
            case dnnl_not_required: return "not required"
            default: return "status \(status.rawValue)"
            }
        }
    }

    // MARK: - Memory descriptors

    extension dnnl_memory_desc_t {
        /// A float32 descriptor of `dims` in a named layout (`dnnl_format_tag_any` lets a primitive choose).
        static func f32(_ dims: [Int], _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
            var desc = dnnl_memory_desc_t()
            let d = dims.map(Int64.init)
            try dnnlCheck(dnnl_memory_desc_init_by_tag(&desc, Int32(d.count), d, dnnl_f32, tag), "memory descriptor \(dims)")
            return desc
        }

        /// A float32 descriptor of `dims` with explicit element strides.
        static func f32(_ dims: [Int], strides: [Int]) throws -> dnnl_memory_desc_t {
            var desc = dnnl_memory_desc_t()
            let d = dims.map(Int64.init)
            let s = strides.map(Int64.init)
            try dnnlCheck(dnnl_memory_desc_init_by_strides(&desc, Int32(d.count), d, dnnl_f32, s), "memory descriptor \(dims) strides \(strides)")
            return desc
        }

        /// The plain row-major layout of `dims` (nc, nchw, oihw, goihw, x).
        static func plain(_ dims: [Int]) throws -> dnnl_memory_desc_t {
            let tags: [Int: dnnl_format_tag_t] = [1: dnnl_a, 2: dnnl_ab, 3: dnnl_abc, 4: dnnl_abcd, 5: dnnl_abcde]
            guard let tag = tags[dims.count] else { throw ForwardError("oneDNN: no plain layout for \(dims.count) dimensions") }
            return try f32(dims, tag)
        }

        /// Bytes a buffer of this layout needs (blocked layouts pad channels).
        var byteCount: Int {
            var copy = self
            return dnnl_memory_desc_get_size(&copy)
        }

        func sameLayout(as other: dnnl_memory_desc_t) -> Bool {
            var a = self
            var b = other
            return dnnl_memory_desc_equal(&a, &b) != 0
        }
    }

    // MARK: - Owned handles

    /// Primitive attributes: a user-managed scratchpad (one buffer shared by a plan's primitives),
    /// optionally a fused ReLU after the operation.
    final class DNNLAttributes {
        let raw: dnnl_primitive_attr_t

        init(fusedReLU: Bool = false) throws {
            var attr: dnnl_primitive_attr_t?
            try dnnlCheck(dnnl_primitive_attr_create(&attr), "creating primitive attributes")
            raw = attr!
            try dnnlCheck(dnnl_primitive_attr_set_scratchpad_mode(raw, dnnl_scratchpad_mode_user), "scratchpad mode")
            if fusedReLU {
                var ops: dnnl_post_ops_t?
                try dnnlCheck(dnnl_post_ops_create(&ops), "creating post-ops")
                defer { dnnl_post_ops_destroy(ops) }
                try dnnlCheck(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_relu, 0, 0), "ReLU post-op")
                try dnnlCheck(dnnl_primitive_attr_set_post_ops(raw, ops), "setting post-ops")
            }
        }

        deinit { dnnl_primitive_attr_destroy(raw) }
    }

    /// A primitive descriptor: the implementation oneDNN chose for one operation and its memory layouts.
    final class DNNLPrimitiveDescriptor {
        let raw: dnnl_primitive_desc_t

        /// The descriptor for the operation described by `opDesc`, or nil when oneDNN has no
        /// implementation for these layouts (`dnnl_unimplemented`); other failures throw.
        static func make(_ opDesc: UnsafeRawPointer, attributes: DNNLAttributes, what: String) throws -> DNNLPrimitiveDescriptor? {
            guard let engine = DNNL.engine else { throw ForwardError("oneDNN: no CPU engine") }
            var pd: dnnl_primitive_desc_t?
            let status = dnnl_primitive_desc_create(&pd, opDesc, attributes.raw, engine, nil)
            if status == dnnl_unimplemented { return nil }
            try dnnlCheck(status, what)
            return DNNLPrimitiveDescriptor(raw: pd!)
        }

        /// A reorder from one layout to another.
        static func reorder(from source: dnnl_memory_desc_t, to destination: dnnl_memory_desc_t, attributes: DNNLAttributes) throws -> DNNLPrimitiveDescriptor {
            guard let engine = DNNL.engine else { throw ForwardError("oneDNN: no CPU engine") }
            var pd: dnnl_primitive_desc_t?
            var s = source
            var d = destination
            try dnnlCheck(dnnl_reorder_primitive_desc_create(&pd, &s, engine, &d, engine, attributes.raw), "creating a reorder")
            return DNNLPrimitiveDescriptor(raw: pd!)
        }

        private init(raw: dnnl_primitive_desc_t) { self.raw = raw }

        func layout(_ what: dnnl_query_t, _ index: Int32 = 0) -> dnnl_memory_desc_t {
            dnnl_primitive_desc_query_md(raw, what, index)?.pointee ?? dnnl_memory_desc_t()
        }

        var source: dnnl_memory_desc_t { layout(dnnl_query_src_md) }
        var weights: dnnl_memory_desc_t { layout(dnnl_query_weights_md) }
        var destination: dnnl_memory_desc_t { layout(dnnl_query_dst_md) }
        var scratchpad: dnnl_memory_desc_t { layout(dnnl_query_scratchpad_md) }

        /// oneDNN's name for the implementation, e.g. `brgconv:avx512_core` or `ref:any`.
        var implementation: String {
            var name: UnsafePointer<CChar>?
            guard dnnl_primitive_desc_query(raw, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else { return "?" }
            return String(cString: name)
        }

        deinit { dnnl_primitive_desc_destroy(raw) }
    }

    /// A compiled primitive (JIT code is generated here, once).
    final class DNNLPrimitive {
        let raw: dnnl_primitive_t
        let implementation: String

        init(_ descriptor: DNNLPrimitiveDescriptor, what: String) throws {
            var primitive: dnnl_primitive_t?
            try dnnlCheck(dnnl_primitive_create(&primitive, descriptor.raw), "creating \(what)")
            raw = primitive!
            implementation = descriptor.implementation
        }

        deinit { dnnl_primitive_destroy(raw) }
    }

    /// A memory object: a layout plus a data handle (set later for plan buffers and per-call tensors).
    final class DNNLMemory {
        let raw: dnnl_memory_t
        let layout: dnnl_memory_desc_t
        /// Keeps the buffer behind a fixed handle alive (weights).
        private let owner: AnyObject?

        init(_ layout: dnnl_memory_desc_t, handle: UnsafeMutableRawPointer?, owner: AnyObject? = nil) throws {
            guard let engine = DNNL.engine else { throw ForwardError("oneDNN: no CPU engine") }
            var memory: dnnl_memory_t?
            var desc = layout
            try dnnlCheck(dnnl_memory_create(&memory, &desc, engine, handle), "creating memory")
            raw = memory!
            self.layout = layout
            self.owner = owner
        }

        func setHandle(_ pointer: UnsafeMutableRawPointer) throws {
            try dnnlCheck(dnnl_memory_set_data_handle(raw, pointer), "setting a data handle")
        }

        deinit { dnnl_memory_destroy(raw) }
    }

    /// An in-order execution stream (one per network: streams are not shared between threads).
    final class DNNLStream {
        let raw: dnnl_stream_t

        init() throws {
            guard let engine = DNNL.engine else { throw ForwardError("oneDNN: no CPU engine") }
            var stream: dnnl_stream_t?
            try dnnlCheck(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "creating a stream")
            raw = stream!
        }

        func execute(_ primitive: DNNLPrimitive, _ arguments: [dnnl_exec_arg_t]) throws {
            try dnnlCheck(dnnl_primitive_execute(primitive.raw, raw, Int32(arguments.count), arguments), "running \(primitive.implementation)")
        }

        func wait() throws { try dnnlCheck(dnnl_stream_wait(raw), "waiting for the stream") }

        deinit { dnnl_stream_destroy(raw) }
    }
#endif

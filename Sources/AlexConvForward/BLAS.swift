#if canImport(Accelerate)
    import Accelerate
#else
    import CBLAS
#endif

// MARK: - BLAS bridge

/// The two BLAS calls the forward pass needs, row-major float32, from the system BLAS
/// (OpenBLAS through the CBLAS system-library target on Linux, Accelerate on macOS).
enum BLAS {
    /// C (m x n) = A (m x k) * B (k x n) + beta * C, all row-major with leading dimensions given.
    @inline(__always)
    static func gemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float = 0
    ) {
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y (m) = A (m x n, row-major) * x (n) + beta * y.
    @inline(__always)
    static func gemv(
        m: Int, n: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
        y: UnsafeMutablePointer<Float>, beta: Float = 0
    ) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), 1, a, Int32(lda), x, 1, beta, y, 1)
    }
}

extension BLAS {
    /// Sets the number of threads the BLAS uses for GEMM (OpenBLAS only; Accelerate decides itself).
    static func setThreads(_ count: Int) {
        #if !canImport(Accelerate)
            openblas_set_num_threads(Int32(max(1, count)))
        #endif
    }

    /// Number of threads the BLAS uses (1 where it cannot be asked).
    static var threads: Int {
        #if canImport(Accelerate)
            return 1
        #else
            return Int(openblas_get_num_threads())
        #endif
    }
}

// MARK: - Splitting GEMMs across cores

extension BLAS {
    /// `gemm` with B and C split into column blocks run on `Parallel.workers` cores, each block a
    /// single-threaded BLAS call. The forward pass keeps the BLAS itself at one thread: GCD workers
    /// sleep when idle where OpenBLAS's own threads spin, which matters on a busy two-core machine.
    static func parallelGemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let workers = Parallel.workers
        if workers <= 1 || m * n * k < 1 << 21 || n < 64 {
            gemm(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
            return
        }
        let blocks = min(workers, n / 32)
        Parallel.forEach(blocks, costPerItem: 1 << 20) { range in
            for block in range {
                // Column blocks on 16-float boundaries keep each call's B and C panels aligned.
                let start = (n * block / blocks) & ~15
                let end = block == blocks - 1 ? n : (n * (block + 1) / blocks) & ~15
                if end > start {
                    gemm(m: m, n: end - start, k: k, a: a, lda: lda, b: b + start, ldb: ldb, c: c + start, ldc: ldc)
                }
            }
        }
    }

    /// y = A x + y·0 with A's rows split across cores (a memory-bound GEMV).
    static func parallelGemv(m: Int, n: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let workers = Parallel.workers
        if workers <= 1 || m * n < 1 << 18 {
            gemv(m: m, n: n, a: a, lda: lda, x: x, y: y)
            return
        }
        Parallel.forEach(workers, costPerItem: 1 << 20) { range in
            for block in range {
                let start = m * block / workers
                let end = m * (block + 1) / workers
                if end > start { gemv(m: end - start, n: n, a: a + start * lda, lda: lda, x: x, y: y + start) }
            }
        }
    }

    /// Rows of B per call in `parallelGemmTransposedB`: a block of weights is read from memory
    /// once and reused for every batch item from cache (30% faster than one call at batch 8).
    static let denseRowBlock = 128

    /// C (rows x n) = A (rows x k) * B^T with B (n x k): B's rows (C's columns) in blocks of
    /// `denseRowBlock`, the blocks spread across cores.
    static func parallelGemmTransposedB(
        rows: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>
    ) {
        let blocks = (n + denseRowBlock - 1) / denseRowBlock
        Parallel.forEach(blocks, costPerItem: rows * denseRowBlock * k) { range in
            for block in range {
                let start = block * denseRowBlock
                let end = min(n, start + denseRowBlock)
                gemm(m: rows, n: end - start, k: k, a: a, lda: k, b: b + start * k, ldb: k, transposeB: true, c: c + start, ldc: n)
            }
        }
    }
}

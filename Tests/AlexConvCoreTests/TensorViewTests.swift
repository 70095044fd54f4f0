import Testing

@testable import AlexConvCore

@Suite struct TensorViewTests {
    func iota(_ shape: [Int]) -> Tensor {
        Tensor((0..<shape.reduce(1, *)).map(Float.init), shape: shape)
    }

    @Test func transposeMatchesIndexFormula() {
        let t = iota([2, 3, 4])
        let p = t.transposed([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        let v = p.floats()
        for a in 0..<4 {
            for b in 0..<2 {
                for c in 0..<3 {
                    #expect(v[(a * 2 + b) * 3 + c] == Float((b * 3 + c) * 4 + a))
                }
            }
        }
    }

    @Test func largeTransposeUsesTilesAndStaysExact() {
        let t = iota([70, 45])
        let v = t.transposed([1, 0]).floats()
        for i in 0..<45 { for j in 0..<70 { #expect(v[i * 70 + j] == Float(j * 45 + i)) } }
    }

    @Test func reverseAxisAndSlice() {
        let t = iota([3, 2])
        #expect(t.reversed(axis: 0).floats() == [4, 5, 2, 3, 0, 1])
        #expect(t.reversed(axis: 1).floats() == [1, 0, 3, 2, 5, 4])
        #expect(t.sliced(axis: 0, 1..<3).floats() == [2, 3, 4, 5])
        #expect(t.sliced(axis: 1, 1..<2).floats() == [1, 3, 5])
    }

    @Test func reshapeOfNonContiguousViewKeepsRowMajorOrder() {
        let t = iota([2, 3]).transposed([1, 0])  // [[0,3],[1,4],[2,5]]
        let r = t.reshaped([6])
        #expect(r.floats() == [0, 3, 1, 4, 2, 5])
        #expect(r.reshaped([2, 3]).transposed([1, 0]).floats() == [0, 4, 3, 2, 1, 5])
    }

    @Test func chunksStreamTheSameBytesAsMaterialising() throws {
        let t = iota([50, 7, 3]).transposed([2, 0, 1])
        var streamed: [Float] = []
        try t.forEachChunk(as: .float32, chunkBytes: 100) { streamed += Array($0.bindMemory(to: Float.self)) }
        #expect(streamed == t.floats())
    }

    @Test func viewOutsideStorageIsAFormatError() {
        let storage = ByteStorage(copying: [UInt8](repeating: 0, count: 15))
        #expect(throws: FormatError.self) { try Tensor(storage: storage, dtype: .float32, shape: [4]) }
        #expect(throws: FormatError.self) { try Tensor(storage: storage, dtype: .float32, shape: [Int.max / 2, 4]) }
        #expect(throws: FormatError.self) { try Tensor(storage: storage, dtype: .float32, shape: [2], strides: [-1]) }
        #expect(throws: FormatError.self) { try Tensor(storage: storage, byteOffset: 8, dtype: .float32, shape: [2]) }
    }
}

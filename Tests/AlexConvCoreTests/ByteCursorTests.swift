import Testing

@testable import AlexConvCore

@Suite struct ByteCursorTests {
    @Test func readsIntegersInBothByteOrders() throws {
        let bytes: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09]
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
            var cursor = ByteCursor(raw, file: "f.bin", label: "header")
            #expect(try cursor.read(UInt8.self, what: "a") == 0x01)
            #expect(try cursor.read(UInt16.self, what: "b") == 0x0302)
            #expect(try cursor.read(UInt16.self, .bigEndian, what: "c") == 0x0405)
            #expect(try cursor.read(UInt32.self, .bigEndian, what: "d") == 0x0607_0809)
            #expect(cursor.isAtEnd)
            #expect(try cursor.integer(UInt64.self, at: 1, what: "e") == 0x0908_0706_0504_0302)
            #expect(try cursor.unsigned(width: 3, at: 0, what: "f") == 0x030201)
            #expect(try cursor.unsigned(width: 3, at: 0, .bigEndian, what: "g") == 0x010203)
            #expect(try cursor.unsigned(width: 8, at: 1, .bigEndian, what: "h") == 0x0203_0405_0607_0809)
            #expect(try cursor.integer(Int16.self, at: 7, .bigEndian, what: "i") == 0x0809)
        }
    }

    @Test func everyReadPastTheEndIsATruncationNamingFileLabelAndByte() throws {
        let bytes: [UInt8] = [1, 2, 3]
        bytes.withUnsafeBytes { raw in
            var cursor = ByteCursor(raw, file: "model.bin", label: "zip central directory entry 3", base: 2048)
            do {
                _ = try cursor.integer(UInt32.self, at: 0, what: "signature")
                Issue.record("read past the end")
            } catch let error as FormatError {
                #expect(error.kind == .truncated)
                #expect(error.file == "model.bin")
                #expect(error.location == "zip central directory entry 3")
                #expect(error.description == "model.bin: zip central directory entry 3: truncated: signature at byte 2048 needs 4 bytes, 3 remain")
            } catch { Issue.record("unexpected \(error)") }
            #expect(throws: FormatError.self) { try cursor.slice(at: 2, count: 2, what: "x") }
            #expect(throws: FormatError.self) { try cursor.slice(at: -1, count: 1, what: "x") }
            #expect(throws: FormatError.self) { try cursor.slice(at: 1, count: Int.max, what: "x") }
            #expect(throws: FormatError.self) { try cursor.byte(at: 3, what: "x") }
            #expect(throws: FormatError.self) { try cursor.seek(to: 4, what: "x") }
            #expect(throws: FormatError.self) { try cursor.skip(Int.max, what: "x") }
            #expect((try? cursor.slice(at: 3, count: 0, what: "empty tail"))?.count == 0)
            cursor.offset = 2
            #expect(throws: FormatError.self) { try cursor.read(UInt16.self, what: "x") }
            #expect(cursor.offset == 2, "a failed read does not move the cursor")
        }
    }

    @Test func signaturesAndRecords() throws {
        let bytes = Array("GCOL\u{1}xyzHEAP".utf8)
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
            var cursor = ByteCursor(raw, label: "heap")
            #expect(cursor.hasSignature("GCOL".utf8, at: 0))
            #expect(!cursor.hasSignature("HEAP".utf8, at: 9))  // runs past the end
            #expect(cursor.hasSignature("HEAP".utf8, at: 8))
            try cursor.readSignature("GCOL".utf8, what: "GCOL signature")
            var record = try cursor.readRecord(4, label: "record")
            #expect(record.base == 4)
            #expect(try record.read(UInt8.self, what: "version") == 1)
            #expect(cursor.offset == 8)
            do {
                try cursor.readSignature("OHDR".utf8, what: "object header signature")
                Issue.record("wrong signature accepted")
            } catch let error as FormatError {
                #expect(error.kind == .malformed)
                #expect(error.detail == "no object header signature at byte 8")
            }
            do {
                _ = try record.integer(UInt32.self, at: 2, what: "size")
                Issue.record("read past a record")
            } catch let error as FormatError {
                #expect(error.detail.contains("at byte 6 needs 4 bytes, 2 remain"), "offsets are counted from the file's start")
            }
        }
    }

    // Published examples: protobuf's encoding guide (1, 150, 300) and the 64-bit extremes.
    @Test func varintsMatchPublishedEncodings() throws {
        let vectors: [(UInt64, [UInt8])] = [
            (0, [0x00]), (1, [0x01]), (127, [0x7F]), (128, [0x80, 0x01]), (150, [0x96, 0x01]),
            (300, [0xAC, 0x02]), (16_384, [0x80, 0x80, 0x01]),
            (UInt64(UInt32.max), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ]
        for (value, encoding) in vectors {
            #expect(Varint.encoded(value) == encoding, "encode \(value)")
            try encoding.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
                var cursor = ByteCursor(raw, label: "varint")
                #expect(try cursor.readVarint(what: "v") == value)
                #expect(cursor.isAtEnd)
            }
        }
        try [UInt8]([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]).withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
            var cursor = ByteCursor(raw, label: "varint")
            #expect(try cursor.readVarint32(what: "v") == UInt32.max)
        }
    }

    @Test func badVarintsAreTruncatedOrMalformed() {
        let cases: [([UInt8], Int, FormatError.Kind)] = [
            ([0x80], Varint.maxBytes64, .truncated),
            ([], Varint.maxBytes64, .truncated),
            ([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02], Varint.maxBytes64, .malformed),  // bit 64
            ([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x81, 0x00], Varint.maxBytes64, .malformed),  // 11 bytes
            ([0xFF, 0xFF, 0xFF, 0xFF, 0x1F], Varint.maxBytes32, .malformed),  // bit 32
            ([0x80, 0x80, 0x80, 0x80, 0x80, 0x00], Varint.maxBytes32, .malformed),
        ]
        for (bytes, maxBytes, kind) in cases {
            bytes.withUnsafeBytes { raw in
                var cursor = ByteCursor(raw, label: "block entry")
                do {
                    _ = try cursor.readVarint(what: "key length", maxBytes: maxBytes)
                    Issue.record("accepted \(bytes)")
                } catch let error as FormatError {
                    #expect(error.kind == kind, "\(bytes)")
                    #expect(error.location == "block entry")
                } catch { Issue.record("unexpected \(error)") }
            }
        }
        [UInt8]([0x96, 0x01]).withUnsafeBytes { raw in
            var cursor = ByteCursor(raw, label: "handle")
            #expect(throws: FormatError.self) { try cursor.readVarintSize(what: "block size", limit: 100) }
        }
    }

    @Test func lengthFieldsLinesAndBytesOneAtATime() throws {
        // u32 length 3, "abc", u8 length 9 (only 2 follow), then "x\n" and no newline after "yz".
        let bytes: [UInt8] = [3, 0, 0, 0] + Array("abc".utf8) + [9] + Array("x\nyz".utf8)
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
            var cursor = ByteCursor(raw, file: "f.pkl", label: "pickle", base: 100)
            let length = try cursor.readLength(UInt32.self, what: "length")
            #expect(length == 3)
            #expect(Array(try cursor.readBytes(length, what: "text")) == Array("abc".utf8))
            do {
                _ = try cursor.readLength(UInt8.self, what: "length")
                Issue.record("a length past the end was accepted")
            } catch let error as FormatError {
                #expect(error.kind == .truncated)
                #expect(error.description == "f.pkl: pickle: length at byte 107 claims 9 bytes, only 4 left in the file")
            }
            #expect(Array(try cursor.readLine(what: "line")) == Array("x".utf8))
            #expect(cursor.offset == 10)
            #expect(throws: FormatError.self) { try cursor.readLine(what: "line") }
            #expect(cursor.nextByte() == UInt8(ascii: "y"))
            #expect(cursor.nextByte() == UInt8(ascii: "z"))
            #expect(cursor.nextByte() == nil)
            #expect(cursor.isAtEnd)
        }
        let negative: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF]
        negative.withUnsafeBytes { raw in
            var cursor = ByteCursor(raw, label: "pickle")
            #expect(throws: FormatError.self) { try cursor.readLength(Int32.self, what: "length") }
        }
    }

    @Test func withLocationLabelsOnlyErrorsWithoutOne() throws {
        var built = 0
        func label() -> String {
            built += 1
            return "zip central directory entry 7"
        }
        #expect(try withLocation(label()) { 42 } == 42)
        #expect(built == 0, "the label is made only for an error")
        let unlabelled = #expect(throws: FormatError.self) {
            try withLocation(label()) { throw FormatError(.malformed, "bad signature") }
        }
        #expect(unlabelled?.location == "zip central directory entry 7")
        let labelled = #expect(throws: FormatError.self) {
            try withLocation(label()) { throw FormatError(.malformed, location: "zip entry 'a'", "bad") }
        }
        #expect(labelled?.location == "zip entry 'a'")
    }

    // RFC 3720 appendix B.4 and the "123456789" check value of CRC-32C.
    @Test func crc32cMatchesPublishedVectors() {
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func crc32cIsTheSameInPiecesAndWholeAndMaskingRoundTrips() {
        var generator = SystemRandomNumberGenerator()
        let data = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let whole = CRC32C.checksum(data)
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let crc = data.withUnsafeBytes { raw in
                CRC32C.update(
                    CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[..<split])),
                    UnsafeRawBufferPointer(rebasing: raw[split...]))
            }
            #expect(crc == whole, "split at \(split)")
        }
        // LevelDB's crc32c_test: masking changes the value, twice differently, and unmasks back.
        #expect(CRC32C.mask(whole) != whole)
        #expect(CRC32C.mask(CRC32C.mask(whole)) != whole)
        #expect(CRC32C.unmask(CRC32C.mask(whole)) == whole)
        #expect(CRC32C.unmask(CRC32C.unmask(CRC32C.mask(CRC32C.mask(whole)))) == whole)
    }
}

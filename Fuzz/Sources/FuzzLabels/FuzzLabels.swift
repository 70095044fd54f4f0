import AlexConv
import Foundation
import FuzzSupport

/// evaluate's label files: Caffe val.txt and CSV (quoting, headers, synset ids), each entry's
/// path and label checked; the first input byte picks the CSV reading and the class count.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLabels(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzHarness.run(data, size) { bytes in
        guard let first = bytes.first else { return }
        let csv = first & 1 == 1
        let classes = first & 2 == 2 ? 1000 : 10
        let set = try LabelFile.parse(Data(bytes.dropFirst()), path: csv ? "fuzz.csv" : "fuzz.txt", root: "/nonexistent", classes: classes)
        for image in set.images {
            guard let label = image.label, (0..<classes).contains(label), !image.path.isEmpty, !image.path.hasPrefix("/"),
                !image.path.split(separator: "/").contains("..")
            else {
                fatalError("fuzz finding: unchecked entry \(image)")
            }
        }
    }
}

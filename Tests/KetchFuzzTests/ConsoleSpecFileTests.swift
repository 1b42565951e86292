import Foundation
import KetchShared
import Testing
@testable import ketch_tui

/// The console's create form reads spec files with the same 1 MiB bound as ketchctl: the spec
/// fuzzer's 1.2 GB document took the YAML decoder past its 5 s limit.
@Suite struct ConsoleSpecFileTests {
    @Test func aSpecFileOverOneMebibyteIsRefusedBeforeItIsRead() throws {
        let path = NSTemporaryDirectory() + "ketch-console-huge-spec-\(getpid()).yaml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let size = ReplicaSpec.maxSpecFileBytes + 1
        FileManager.default.createFile(atPath: path, contents: Data(repeating: UInt8(ascii: " "), count: size))
        guard case .failure(let error) = SpecFile.load(path: path) else { Issue.record("a file of \(size) bytes was accepted"); return }
        #expect(error.code == "spec-too-large")
        #expect(error.message == "\(path) is \(size) bytes; a spec file is at most 1048576 bytes (1 MiB): a replica's spec is about 200 bytes, so split the file")
    }
}

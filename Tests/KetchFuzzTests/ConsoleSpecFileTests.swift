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

    /// Fuzzing (tui-spec, seed 8201, input 1,213,144) crashed the console with a port of
    /// `1:2:3:4:5:6:7:8:9:10:-0`: the resolver tags it as text (`-0` is not a base-60 digit), so
    /// the guard for integers written like `1:2:3` let it through, and the integer decoder
    /// overflowed computing 60^11. Refused now with one line; quoted text with `:` still loads.
    @Test func aBase60PortTaggedAsTextIsRefusedNotCrashedOn() throws {
        let path = NSTemporaryDirectory() + "ketch-console-base60-\(getpid()).yaml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        func spec(port: String, password: String) -> String {
            "name: mydb1\nquorumGroupSize: 3\ndbConfig:\n  username: u\n  password: \(password)\n  port: \(port)\n  closedPort: 5433\n"
        }
        FileManager.default.createFile(atPath: path, contents: Data(spec(port: "1:2:3:4:5:6:7:8:9:10:-0", password: "pw").utf8))
        guard case .failure(let error) = SpecFile.load(path: path) else { Issue.record("a base-60 port was accepted"); return }
        #expect(error.code == "spec-invalid")
        #expect(error.message == "\(path) has a number written like 1:2:3; write whole numbers in decimal (like 5432), and quote text that contains ':'")
        FileManager.default.createFile(atPath: path, contents: Data(spec(port: "5432", password: "'12:34'").utf8))
        let second = SpecFile.load(path: path)
        guard case .success(let loaded) = second else { Issue.record("a quoted password with a colon was refused: \(second)"); return }
        #expect(loaded.dbConfig.password == "12:34" && loaded.dbConfig.port == 5432)
        #expect(SpecFile.looksSexagesimal("+1_0:2:-0") && !SpecFile.looksSexagesimal("a:1") && !SpecFile.looksSexagesimal("1::2"))
    }
}

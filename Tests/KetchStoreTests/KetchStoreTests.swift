import Foundation
import KetchShared
import Testing
@testable import KetchStore

/// A fresh directory under /tmp, removed (after clearing any immutable flag) when done.
final class TempDirectory {
    let path: String
    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("ketch-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }
    deinit {
        _ = try? runTool("/usr/bin/chattr", ["-i", path])
        chmod(path, 0o700)
        try? FileManager.default.removeItem(atPath: path)
    }
    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
}

@discardableResult
func runTool(_ executable: String, _ arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

func expectStoreError(_ code: StoreError.Code, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected \(code.rawValue), but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as StoreError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected StoreError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}

let sampleIdentity = RuntimeIdentity(
    serverID: ServerID("6fbacbae-2954-4472-9795-e59945f4d4b5"), name: "server1",
    memberEndpoint: Endpoint(addr: "127.0.2.1", port: 7459),
    apiEndpoint: Endpoint(addr: "127.0.2.1", port: 7460),
    createdAtUnixMs: 1_790_000_000_123)

@Suite struct KetchStoreTests {
    @Test func createsTheFileInWALModeAndStartsEmpty() throws {
        let dir = try TempDirectory()
        let store = try KetchStore.open(dataDirectory: dir.path)
        #expect(store.path == dir.file("ketch.db"))
        #expect(FileManager.default.fileExists(atPath: dir.file("ketch.db")))
        #expect(try store.runtime() == nil)
        #expect(try store.all(kind: "replica").isEmpty)
        #expect(try store.currentSequence(name: "ballot") == 0)
        try store.put(kind: "replica", key: "a", value: Data([1]))
        #expect(FileManager.default.fileExists(atPath: dir.file("ketch.db-wal")))
        let attributes = try FileManager.default.attributesOfItem(atPath: dir.file("ketch.db"))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test func reopenKeepsRuntimeRecordsAndCounters() throws {
        let dir = try TempDirectory()
        do {
            let store = try KetchStore.open(dataDirectory: dir.path)
            try store.saveRuntime(sampleIdentity)
            try store.put(kind: "replica", key: "r2", value: Data("two".utf8))
            try store.put(kind: "replica", key: "r1", value: Data("one".utf8))
            try store.put(kind: "epoch", key: "r1", value: Data())
            #expect(try store.nextSequence(name: "ballot") == 1)
            #expect(try store.nextSequence(name: "ballot") == 2)
            store.close()
        }
        let store = try KetchStore.open(dataDirectory: dir.path)
        #expect(try store.runtime() == sampleIdentity)
        #expect(try store.all(kind: "replica") == [
            StoreRecord(key: "r1", value: Data("one".utf8)),
            StoreRecord(key: "r2", value: Data("two".utf8)),
        ])
        #expect(try store.get(kind: "epoch", key: "r1") == Data())
        #expect(try store.get(kind: "epoch", key: "missing") == nil)
        #expect(try store.nextSequence(name: "ballot") == 3)
    }

    @Test func putReplacesAndDeleteRemoves() throws {
        let dir = try TempDirectory()
        let store = try KetchStore.open(dataDirectory: dir.path)
        try store.put(kind: "k", key: "x", value: Data([1]))
        try store.put(kind: "k", key: "x", value: Data([2]))
        #expect(try store.get(kind: "k", key: "x") == Data([2]))
        try store.delete(kind: "k", key: "x")
        try store.delete(kind: "k", key: "never-there")
        #expect(try store.get(kind: "k", key: "x") == nil)
        var changed = sampleIdentity
        changed.name = "renamed"
        try store.saveRuntime(sampleIdentity)
        try store.saveRuntime(changed)
        #expect(try store.runtime() == changed)
    }

    @Test func aBatchAppliesAllOrNothing() throws {
        let dir = try TempDirectory()
        let store = try KetchStore.open(dataDirectory: dir.path)
        try store.put(kind: "acceptor", key: "r1", value: Data("old".utf8))
        try store.write([
            .put(kind: "acceptor", key: "r2", value: Data("b".utf8)),
            .put(kind: "epoch", key: "e1", value: Data("c".utf8)),
            .delete(kind: "acceptor", key: "r1"),
        ])
        #expect(try store.all(kind: "acceptor").map(\.key) == ["r2"])
        #expect(try store.get(kind: "epoch", key: "e1") == Data("c".utf8))

        // The last change violates the schema (empty key), so SQLite fails mid-transaction.
        expectStoreError(.invalidRecord) {
            try store.write([
                .put(kind: "acceptor", key: "r3", value: Data("new".utf8)),
                .delete(kind: "acceptor", key: "r2"),
                .put(kind: "epoch", key: "e1", value: Data("changed".utf8)),
                .put(kind: "epoch", key: "", value: Data("bad".utf8)),
            ])
        }
        #expect(try store.all(kind: "acceptor").map(\.key) == ["r2"])
        #expect(try store.get(kind: "epoch", key: "e1") == Data("c".utf8))
        // The store stays usable after the failed batch.
        try store.put(kind: "epoch", key: "e2", value: Data([9]))
        #expect(try store.all(kind: "epoch").count == 2)
    }

    @Test func countersAreMonotonicAcrossReopenAndRespectAFloor() throws {
        let dir = try TempDirectory()
        var seen: [UInt64] = []
        for _ in 0..<3 {
            let store = try KetchStore.open(dataDirectory: dir.path)
            for _ in 0..<4 { seen.append(try store.nextSequence(name: "epoch")) }
            store.close()
        }
        #expect(seen == Array(1...12))
        let store = try KetchStore.open(dataDirectory: dir.path)
        #expect(try store.nextSequence(name: "ballot", above: 41) == 42)
        #expect(try store.nextSequence(name: "ballot", above: 10) == 43)
        #expect(try store.nextSequence(name: "ballot") == 44)
        #expect(try store.currentSequence(name: "epoch") == 12)
        expectStoreError(.invalidRecord) { _ = try store.nextSequence(name: "ballot", above: UInt64.max) }
    }

    @Test func concurrentUseFromManyTasks() async throws {
        let dir = try TempDirectory()
        let store = try KetchStore.open(dataDirectory: dir.path)
        let values = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var mine: [UInt64] = []
                    for i in 0..<25 {
                        try store.put(kind: "w\(worker)", key: String(format: "%03d", i), value: Data([UInt8(i)]))
                        mine.append(try store.nextSequence(name: "shared"))
                        _ = try store.all(kind: "w\(worker)")
                    }
                    return mine
                }
            }
            var all: [UInt64] = []
            for try await part in group { all += part }
            return all
        }
        #expect(values.sorted() == Array(1...200))
        for worker in 0..<8 {
            #expect(try store.all(kind: "w\(worker)").count == 25)
        }
    }

    @Test func missingDirectoryIsRefusedAndNotCreated() throws {
        let dir = try TempDirectory()
        let missing = dir.file("nope")
        expectStoreError(.directoryMissing) { _ = try KetchStore.open(dataDirectory: missing) }
        expectStoreError(.directoryMissing) { _ = try KetchStore.open(dataDirectory: "") }
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    @Test func aFileInsteadOfADirectoryIsRefused() throws {
        let dir = try TempDirectory()
        _ = FileManager.default.createFile(atPath: dir.file("plain"), contents: Data("x".utf8))
        expectStoreError(.notADirectory) { _ = try KetchStore.open(dataDirectory: dir.file("plain")) }
    }

    @Test func aDirectoryNamedKetchDBIsRefused() throws {
        let dir = try TempDirectory()
        try FileManager.default.createDirectory(atPath: dir.file("ketch.db"), withIntermediateDirectories: false)
        expectStoreError(.cannotOpen) { _ = try KetchStore.open(dataDirectory: dir.path) }
    }

    /// Root ignores mode bits, so as root the directory is made immutable instead (ext4/xfs).
    @Test func anUnwritableDirectoryIsRefused() throws {
        let dir = try TempDirectory()
        let target = dir.file("locked")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        defer { _ = try? runTool("/usr/bin/chattr", ["-i", target]); chmod(target, 0o700) }
        if geteuid() == 0 {
            let status = try runTool("/usr/bin/chattr", ["+i", target])
            try #require(status == 0, "running as root, so the test needs `chattr +i` to make a directory unwritable; it failed on this file system")
        } else {
            chmod(target, 0o500)
        }
        expectStoreError(.directoryNotAccessible) { _ = try KetchStore.open(dataDirectory: target) }
        #expect(!FileManager.default.fileExists(atPath: (target as NSString).appendingPathComponent("ketch.db")))
    }

    @Test func aCorruptFileIsRefused() throws {
        let dir = try TempDirectory()
        let garbage = Data(String(repeating: "this is not a sqlite database\n", count: 200).utf8)
        _ = FileManager.default.createFile(atPath: dir.file("ketch.db"), contents: garbage)
        expectStoreError(.corrupt) { _ = try KetchStore.open(dataDirectory: dir.path) }
        // Issue 15, bug 6: the advice is to move the file aside, never to restore a backup (an
        // older file takes back the acceptor's promises and grants).
        do { _ = try KetchStore.open(dataDirectory: dir.path) } catch let error as StoreError {
            #expect(error.message.contains("move the file aside") && error.message.contains("never restore it from a backup"), "\(error.message)")
        }
        // Nothing was overwritten.
        #expect(FileManager.default.contents(atPath: dir.file("ketch.db")) == garbage)
    }

    @Test func aDamagedPageIsRefused() throws {
        let dir = try TempDirectory()
        do {
            let store = try KetchStore.open(dataDirectory: dir.path)
            for i in 0..<200 { try store.put(kind: "k", key: "key\(i)", value: Data(repeating: 7, count: 200)) }
            store.close()
        }
        // Closing the last connection checkpoints the WAL into the main file; smash page 2 on.
        let handle = try #require(FileHandle(forUpdatingAtPath: dir.file("ketch.db")))
        try handle.seek(toOffset: 4096)
        handle.write(Data(repeating: 0xA5, count: 8192))
        try handle.close()
        expectStoreError(.corrupt) {
            let store = try KetchStore.open(dataDirectory: dir.path)
            _ = try store.all(kind: "k")
        }
        do {
            let store = try KetchStore.open(dataDirectory: dir.path)
            _ = try store.all(kind: "k")
        } catch let error as StoreError {
            #expect(error.message.contains("never restore it from a backup"), "\(error.message)")
        }
    }

    @Test func aNewerSchemaIsRefused() throws {
        let dir = try TempDirectory()
        do {
            let store = try KetchStore.open(dataDirectory: dir.path)
            try store.setSchemaVersionForTesting(KetchStore.schemaVersion + 1)
            store.close()
        }
        do {
            _ = try KetchStore.open(dataDirectory: dir.path)
            Issue.record("a newer schema was accepted")
        } catch let error as StoreError {
            #expect(error.code == .newerSchema)
            #expect(error.message.contains("schema version 2"))
            #expect(error.message.contains(dir.file("ketch.db")))
        }
    }

    @Test func aClosedStoreSaysSo() throws {
        let dir = try TempDirectory()
        let store = try KetchStore.open(dataDirectory: dir.path)
        store.close()
        expectStoreError(.closed) { _ = try store.get(kind: "k", key: "x") }
    }
}

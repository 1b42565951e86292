import Foundation
import KetchShared
import KetchWire
#if canImport(Glibc)
import Glibc
#endif

/// Real `ketch-node` processes on 127.0.2.1…N with their own ports (not the demo's 7459/7460),
/// temporary data dirs and one cluster secret. Everything is torn down by `stop()`.
final class LocalCluster: @unchecked Sendable {
    let dir: TempDir
    let count: Int
    let memberPort: Int
    let apiPort: Int
    /// The HTTP status port: `portBase + 5`, clear of the demo's 7461 on the same addresses.
    var httpPort: Int { memberPort + 5 }
    let secretPath: String
    private(set) var nodes: [TestProcess?]
    let extraArguments: [String]

    init(count: Int = 4, portBase: Int, extraArguments: [String] = []) throws {
        dir = try TempDir("ketch-it")
        self.count = count
        memberPort = portBase
        apiPort = portBase + 1
        secretPath = dir.path + "/cluster.secret"
        try Data("integration-test-secret-0123456789abcdef\n".utf8).write(to: URL(fileURLWithPath: secretPath))
        chmod(secretPath, 0o600)
        nodes = Array(repeating: nil, count: count)
        self.extraArguments = extraArguments
    }

    func address(_ i: Int) -> String { "127.0.2.\(i + 1)" }

    /// Every node in `among` (all by default) reports all `count` members alive, within `seconds`.
    func converged(within seconds: Double = 30, among: [Int]? = nil) async -> Bool {
        await eventually(within: seconds, every: 0.1) {
            for i in among ?? Array(0..<self.count) {
                guard await self.get(.server, from: i)?.data.filter({ $0.attributes["health"] == .string("alive") }).count == self.count else { return false }
            }
            return true
        }
    }
    func dataDir(_ i: Int) -> String { dir.path + "/server\(i + 1)" }
    var memberList: String { (0..<count).map { "\(address($0)):\(memberPort)" }.joined(separator: ",") }
    var apiEndpoints: [Endpoint] { (0..<count).map { Endpoint(addr: address($0), port: apiPort) } }

    func arguments(_ i: Int) -> [String] {
        ["--api-server", address(i), "--api-port", "\(apiPort)", "--member-port", "\(memberPort)", "--http-port", "\(httpPort)",
         "--member-list", memberList, "--data-dir", dataDir(i), "--secret-file", secretPath, "--log-level", "info"]
        + extraArguments + ["run"]
    }

    func start(_ i: Int) throws {
        nodes[i] = try TestProcess(Binaries.path("ketch-node"), arguments(i), log: dir.path + "/server\(i + 1).log")
    }

    func startAll() throws { for i in 0..<count { try start(i) } }

    func node(_ i: Int) -> TestProcess { nodes[i]! }

    func secret() throws -> ClusterSecret { try ClusterSecret(contentsOfFile: secretPath) }

    /// One `get` through the wire, or nil when the node does not answer.
    func get(_ kind: ResourceKind, from i: Int, timeout: Double = 1) async -> ResourceList? {
        guard let client = try? await APIClient.connect(to: Endpoint(addr: address(i), port: apiPort), secret: try secret(), timeout: .milliseconds(Int(timeout * 1000))) else { return nil }
        defer { Task { await client.close() } }
        guard case .resources(let list)? = try? await client.request(.get(kind: kind, id: nil), timeout: .milliseconds(Int(timeout * 1000))) else { return nil }
        return list
    }

    /// Health of server `j` as server `i` reports it.
    func health(of j: Int, seenFrom i: Int) async -> String? {
        guard let list = await get(.server, from: i) else { return nil }
        let entry = list.data.first { $0.attributes["endpoint"]?["addr"] == .string(address(j)) }
        if case .string(let h)? = entry?.attributes["health"] { return h }
        return nil
    }

    func logs() -> String {
        (0..<count).map { "--- server\($0 + 1)\n" + (nodes[$0]?.log.suffix(4000).description ?? "") }.joined(separator: "\n")
    }

    func stop() {
        for n in nodes { n?.terminate() }
        if ProcessInfo.processInfo.environment["KETCH_KEEP_TEST_DIRS"] == "1" { return }
        dir.remove()
    }
}

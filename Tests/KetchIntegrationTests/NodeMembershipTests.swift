import Foundation
import Testing
import KetchShared
import KetchWire
#if canImport(Glibc)
import Glibc
#endif

/// Issue 2 end to end: four real `ketch-node` processes on 127.0.2.1-4.
@Suite(.serialized) struct NodeMembershipTests {
    /// Every node sees every node alive.
    func allAlive(_ c: LocalCluster, among nodes: [Int]) async -> Bool {
        for i in nodes { for j in nodes { guard await c.health(of: j, seenFrom: i) == "alive" else { return false } } }
        return true
    }

    @Test func fourNodesFindEachOtherAndKetchctlListsThemInTheSeedShape() async throws {
        let c = try LocalCluster(portBase: 17_100)
        defer { c.stop() }
        try c.startAll()
        let converged = await eventually(within: 10) { await allAlive(c, among: [0, 1, 2, 3]) }
        #expect(converged, "cluster did not converge:\n\(c.logs())")

        let r = try runCommand(Binaries.path("ketchctl"), ["--api-server", c.address(0), "--api-port", "\(c.apiPort)", "get", "server"],
                               environment: ["KETCH_SECRET_FILE": c.secretPath, "HOME": c.dir.path])
        #expect(r.status == 0, "ketchctl failed: \(r.stderr)")
        #expect(r.stdout.hasPrefix("data:\n- attributes:\n"))
        for i in 0..<4 { #expect(r.stdout.contains("addr: \(c.address(i))")) }
        #expect(r.stdout.components(separatedBy: "  type: server").count - 1 == 4)
    }

    @Test func aKilledNodeIsReportedDeadByAllOthersAndRejoinsWithItsID() async throws {
        let c = try LocalCluster(portBase: 17_110)
        defer { c.stop() }
        try c.startAll()
        #expect(await eventually(within: 10) { await allAlive(c, among: [0, 1, 2, 3]) }, "no convergence:\n\(c.logs())")
        let before = await c.get(.runtime, from: 3)?.data.first?.id
        #expect(before != nil)

        let killedAt = Date()
        c.node(3).kill9()
        let dead = await eventually(within: 5, every: 0.02) {
            for i in 0..<3 { guard await c.health(of: 3, seenFrom: i) == "dead" else { return false } }
            return true
        }
        let detection = Date().timeIntervalSince(killedAt)
        print("kill -9 detection: \(String(format: "%.2f", detection)) s")
        #expect(dead, "not reported dead:\n\(c.logs())")
        // The bound is 2 s; the rest is the cost of asking three nodes over the api port each poll.
        #expect(detection <= 2.5, "detection took \(detection) s, bound is 2 s")

        let restartedAt = Date()
        try c.start(3)
        #expect(await eventually(within: 5) { await allAlive(c, among: [0, 1, 2, 3]) })
        print("restart rejoin: \(String(format: "%.2f", Date().timeIntervalSince(restartedAt))) s (includes process start)")
        #expect(await c.get(.runtime, from: 3)?.data.first?.id == before, "restarted node changed its ID")
    }

    @Test func aPausedNodeIsReportedDeadAndRejoinsWhenResumed() async throws {
        let c = try LocalCluster(portBase: 17_120)
        defer { c.stop() }
        try c.startAll()
        #expect(await eventually(within: 10) { await allAlive(c, among: [0, 1, 2, 3]) }, "no convergence:\n\(c.logs())")

        let pausedAt = Date()
        c.node(2).signal(SIGSTOP)
        let dead = await eventually(within: 5, every: 0.02) {
            for i in [0, 1, 3] { guard await c.health(of: 2, seenFrom: i) == "dead" else { return false } }
            return true
        }
        let detection = Date().timeIntervalSince(pausedAt)
        print("SIGSTOP detection: \(String(format: "%.2f", detection)) s")
        #expect(dead, "not reported dead:\n\(c.logs())")
        #expect(detection <= 2.5, "detection took \(detection) s, bound is 2 s (plus polling)")

        c.node(2).signal(SIGCONT)
        #expect(await eventually(within: 3) { await allAlive(c, among: [0, 1, 2, 3]) }, "resumed node did not rejoin:\n\(c.logs())")
    }

    @Test func aWrongSecretIsRefusedAndBadLinesLeaveTheNodeServing() async throws {
        let c = try LocalCluster(count: 1, portBase: 17_130)
        defer { c.stop() }
        try c.start(0)
        #expect(await eventually(within: 10) { await c.get(.server, from: 0) != nil }, "node did not come up:\n\(c.logs())")

        let wrong = c.dir.path + "/wrong.secret"
        try Data("not-the-cluster-secret-at-all-000000".utf8).write(to: URL(fileURLWithPath: wrong))
        let r = try runCommand(Binaries.path("ketchctl"), ["--api-server", c.address(0), "--api-port", "\(c.apiPort)", "get", "server"],
                               environment: ["KETCH_SECRET_FILE": wrong, "HOME": c.dir.path])
        #expect(r.status != 0)
        #expect(r.stderr.contains("secret"), "stderr: \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "want one line, got: \(r.stderr)")

        for port in [c.apiPort, c.memberPort] {
            let s = try RawSocket(host: c.address(0), port: port)
            _ = s.readLine()  // the server's hello
            s.send(Array("this is not json\n".utf8))
            let reply = s.readLine() ?? ""
            #expect(reply.contains("error"), "port \(port) answered garbage with: \(reply)")
            let flood = try RawSocket(host: c.address(0), port: port)
            _ = flood.readLine()
            flood.send([UInt8](repeating: 0x41, count: 2 << 20))
            flood.send(Array("\n".utf8))
            let floodReply = flood.readLine() ?? ""
            #expect(floodReply.contains("error") || floodReply.isEmpty)
        }
        #expect(c.node(0).isRunning)
        #expect(await c.get(.server, from: 0) != nil, "node stopped serving after bad input:\n\(c.logs())")
    }

    @Test func startUpMistakesGetOneLineAndCreateNothing() throws {
        let dir = try TempDir("ketch-it-bad")
        defer { dir.remove() }
        let bin = Binaries.path("ketch-node")
        let dataDir = dir.path + "/data"

        let noSecret = try runCommand(bin, ["--api-server", "127.0.2.1", "--api-port", "17141", "--member-port", "17140",
                                            "--data-dir", dataDir, "--secret-file", dir.path + "/missing", "run"])
        #expect(noSecret.status != 0)
        #expect(noSecret.stderr.contains("secret"), "\(noSecret.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dataDir), "a data dir was created despite the error")

        let badHost = try runCommand(bin, ["--api-server", "no-such-host.invalid", "--data-dir", dataDir, "run"])
        #expect(badHost.status != 0)
        #expect(badHost.stderr.contains("no-such-host.invalid"))

        let badPort = try runCommand(bin, ["--api-server", "127.0.2.1", "--api-port", "99999", "--data-dir", dataDir, "run"])
        #expect(badPort.status != 0)
        #expect(badPort.stderr.contains("99999"))
        #expect(!FileManager.default.fileExists(atPath: dataDir))

        let badFormat = try runCommand(bin, ["--api-server", "127.0.2.1", "--data-dir", dataDir, "--log-format", "xml", "run"])
        #expect(badFormat.status != 0 && badFormat.stderr.contains("'xml' is not one of: text, json"), "\(badFormat.stderr)")
        let badLogFile = try runCommand(bin, ["--api-server", "127.0.2.1", "--data-dir", dataDir, "--log-file", dir.path + "/no/such/dir/node.log", "run"])
        #expect(badLogFile.status != 0 && badLogFile.stderr.contains("cannot open log file"), "\(badLogFile.stderr)")
        #expect(badLogFile.stderr.split(separator: "\n").count == 1, "more than one line: \(badLogFile.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dataDir))
    }

    /// `--log-format json --log-file F`: every line of F is one JSON object with the time, level
    /// and message, and the node's metadata as fields (issue 17).
    @Test func jsonLogsGoToTheLogFile() async throws {
        let logDir = try TempDir("ketch-it-log")
        defer { logDir.remove() }
        let logFile = logDir.path + "/node.json.log"
        let c = try LocalCluster(count: 1, portBase: 17_150, extraArguments: ["--log-format", "json", "--log-file", logFile])
        defer { c.stop() }
        try c.start(0)
        #expect(await eventually(within: 10) { await c.get(.server, from: 0) != nil }, "node did not come up:\n\(c.logs())")
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n")
        #expect(lines.count >= 3, "too few lines in the log file: \(text)")
        var started = false
        for line in lines {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                Issue.record("not a JSON object: \(line)"); continue
            }
            #expect(object["time"] is String && object["level"] is String && object["message"] is String, "\(line)")
            if object["message"] as? String == "started", object["server.id"] is String { started = true }
        }
        #expect(started, "no 'started' line with its server.id: \(text)")
    }

    @Test func aDataDirInUseIsRefused() async throws {
        let c = try LocalCluster(count: 1, portBase: 17_150)
        defer { c.stop() }
        try c.start(0)
        #expect(await eventually(within: 10) { await c.get(.server, from: 0) != nil }, "node did not come up:\n\(c.logs())")
        let second = try runCommand(Binaries.path("ketch-node"), ["--api-server", "127.0.2.2", "--api-port", "17153", "--member-port", "17152",
                                                                   "--data-dir", c.dataDir(0), "--secret-file", c.secretPath, "run"])
        #expect(second.status != 0)
        #expect(second.stderr.contains("in use"), "\(second.stderr)")
    }
}

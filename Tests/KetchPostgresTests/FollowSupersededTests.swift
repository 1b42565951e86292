import Foundation
import KetchCore
@testable import KetchNode
import KetchPostgres
import KetchShared
import Logging
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Reliability finding 17 (partition, seed 5003): a copy told to follow a primary it could not
/// stream from waited its 10 s, then rewound from it and cloned from it — even though the core had
/// meanwhile chosen another primary — three times over, 48 s without a primary. A follow that
/// cannot stream now gives way at once to a newer role change, and never sets the copy aside
/// for a primary that is no longer the one.
@Suite(.serialized) struct FollowSupersededTests {
    /// Something that accepts TCP connections and never answers: an upstream that cannot stream.
    final class SilentListener: @unchecked Sendable {
        let fd: Int32
        init(host: String, port: UInt16) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &addr.sin_addr)
            let bound = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0, listen(fd, 64) == 0 else {
                close(fd)
                throw NodeError("test-listener", "cannot listen on \(host):\(port): \(String(cString: strerror(errno)))")
            }
        }
        func stop() { close(fd) }
    }

    @Test func aFollowThatCannotStreamGivesWayToANewerRoleChange() async throws {
        try await withLab { lab in
            let (dir, _) = try lab.server(1)
            let (_, silentHost) = try lab.server(2)
            let listener = try SilentListener(host: silentHost, port: 25454)
            defer { listener.stop() }
            guard let (db, reports) = try await initialisedDatabase(lab, name: "superseded", port: 25454, closedPort: 25455,
                                                                   address: { [silentHost] id in id == ServerID("s2") ? silentHost : nil }) else {
                Issue.record("never initialised"); return
            }

            // Told to follow s2 (which cannot stream), then — before that could work — to lead.
            db.performSoon(.follow(primary: ServerID("s2")))
            db.performSoon(.promote)
            let settled = await eventually(within: 90) { await reports.settled }
            #expect(settled, "neither promoted nor failed")
            let promoted = await reports.promotions > 0, failures = await reports.failures
            #expect(promoted, "the copy did not lead again: \(failures)")
            #expect(failures.isEmpty, "\(failures)")
            let aside = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.filter { $0.contains(".aside-") } ?? []
            #expect(aside.isEmpty, "the copy was set aside to clone from a primary no longer chosen: \(aside)")
            await db.shutdown()
        }
    }
}

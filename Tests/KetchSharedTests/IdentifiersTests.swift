import Foundation
import Testing
@testable import KetchShared

@Test func epochIDRoundTripsThroughItsString() throws {
    let id = EpochID(sequence: 42, server: ServerID("6fbacbae-2954-4472-9795-e59945f4d4b5"))
    #expect(EpochID(string: id.description) == id)
    let data = try JSONEncoder().encode(id)
    #expect(try JSONDecoder().decode(EpochID.self, from: data) == id)
    #expect(EpochID(string: "nope") == nil)
    #expect(EpochID(string: "12@") == nil)
}

@Test func ballotsOrderBySequenceThenServer() {
    let a = Ballot(sequence: 1, server: ServerID("b"))
    let b = Ballot(sequence: 2, server: ServerID("a"))
    let c = Ballot(sequence: 2, server: ServerID("b"))
    #expect(a < b && b < c)
}

@Test func aSpecNeverShowsItsPassword() {
    let spec = ReplicaSpec(name: "mydb1", quorumGroupSize: 3,
                           dbConfig: .init(username: "myuser", password: "hunter2-secret", port: 5432, closedPort: 5433))
    #expect(!"\(spec)".contains("hunter2-secret"))
    #expect(!String(reflecting: spec).contains("hunter2-secret"))
    #expect("\(spec)".contains("myuser"))
}

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

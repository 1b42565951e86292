import Testing
@testable import KetchShared

@Test func KetchIntegrationBuilds() { #expect(1 + 1 == 2) }

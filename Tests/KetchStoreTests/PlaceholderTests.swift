import Testing

@Test func KetchStoreBuilds() { #expect(1 + 1 == 2) }

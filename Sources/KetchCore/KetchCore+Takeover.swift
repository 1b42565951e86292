import KetchShared

/// Taking over an unfinished epoch (PDF, Reliability): a data-quorum member continues, under
/// the same ID, an epoch whose primary died after Step 7, finishes Step 8 and starts a fresh
/// epoch instead of opening it.
extension KetchCore {
    /// A takeover is a record that names this server primary of an epoch another server
    /// numbered: every epoch ID carries the server that chose it in Step 1, and only a takeover
    /// makes another server its primary. Derived from the persisted record, so a takeover
    /// leader that restarts before Step 8 goes on as one (it does not run a full Step 5 that
    /// would wait for the dead primary to catch up).
    func isTakeover(_ rec: ReplicaRecord) -> Bool {
        rec.primary == config.server && rec.epoch.id.server != config.server
    }

    /// The epoch's designated primary showed it is alive and goes on with the epoch: this server
    /// is one of its members again, and a copy it had promoted follows that primary. Only the
    /// designated primary opens an epoch (Step 9) or sends Step 5 and 7 messages for it, and it
    /// cannot have served meanwhile unless this server never held the epoch's lease — the
    /// takeover promotes only once it does. The caller persists the record.
    mutating func giveUpTakeover(_ st: inout ReplicaState, now: Instant, why: String) {
        let primary = st.record.epoch.id.server
        let promoted = st.dbPrimary
        if st.serving != nil { fence(&st) }
        st.dropLeadership()
        st.progress = Progress(epoch: st.record.epoch.id)
        st.record.primary = primary
        st.troubleSince = nil
        st.primarySeen = now
        if promoted && st.record.hasData { db(st.record.replica, .follow(primary: primary)) }
        note(st.record.replica, st.record.epoch.id, "giving up the takeover: \(why); following \(primary.short)")
    }
}

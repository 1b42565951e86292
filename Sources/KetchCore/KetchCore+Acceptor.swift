import KetchShared

extension KetchCore {
    /// The acceptor side: lease prepare/propose and epoch setup/open/close/revoke. A changed
    /// record is persisted before the reply is sent (output order: persist, then send).
    mutating func accept(_ message: KetchMessage, now: Instant) {
        let id = message.replica
        let quiet = isQuiet(now)
        var a = LeaseAcceptor(record: acceptors[id] ?? AcceptorRecord(replica: id), me: config.server,
                              maxLease: config.leaseDuration, ignoreSuccessor: config.mutation == .acceptorIgnoresSuccessor)
        let reply: KetchMessage
        let changed: Bool
        switch message {
        case .leasePrepare(let m):
            let (r, c) = a.prepare(m, now: now, quiet: quiet); reply = .leasePrepareReply(r); changed = c
        case .leasePropose(let m):
            let (r, c) = a.propose(m, now: now, quiet: quiet); reply = .leaseProposeReply(r); changed = c
        case .leaseRelease(let m):
            let (r, c) = a.release(m); reply = .leaseReleaseReply(r); changed = c
            if c { note(id, m.epoch, "acceptor: lease released by \(m.source.short)") }
        case .epochSetup(let m):
            let (r, c) = a.setup(m); reply = .epochSetupReply(r); changed = c
        case .epochOpen(let m):
            let (r, c) = a.open(m); reply = .epochOpenReply(r); changed = c
            if c { note(id, m.epoch, "acceptor: epoch opened") }
        case .epochClose(let m):
            let (r, c) = a.close(m, now: now, quiet: quiet); reply = .epochCloseReply(r); changed = c
            if c { note(id, m.epoch, "acceptor: epoch closed by \(m.source.short)") }
        case .epochRevoke(let m):
            let (r, c) = a.revoke(m, now: now, quiet: quiet); reply = .epochRevokeReply(r); changed = c
            if c { note(id, m.epoch, "acceptor: epoch revoked, successor \(m.successor.short)") }
        default:
            return
        }
        if changed {
            acceptors[id] = a.record
            out.persist.append(.acceptor(a.record))
            switch message {
            case .leasePrepare, .leasePropose, .leaseRelease: out.leaseOnlyPersists += 1
            default: break
            }
        }
        if case .epochOpen(let m) = message, a.record.current?.id == m.epoch, a.record.current?.state == .open {
            learnOpened(id, m.epoch, now: now)
        }
        send(reply, to: message.source)
    }

    /// On a member, an epoch that opened at this acceptor is open for the replica record too, and
    /// its prior was revoked by a quorum (Step 9 only runs after Step 8). The primary itself
    /// learns it from Step 9's replies instead.
    ///
    /// Only the epoch's designated primary runs Step 9, so a server that had taken the epoch
    /// over learns here that its primary is alive and opening it: it gives the takeover up and
    /// is a member again (issue 22: the takeover leader kept the epoch as its own, promoted,
    /// and waited for a lease the serving primary renewed for ever).
    mutating func learnOpened(_ id: ReplicaID, _ epoch: EpochID, now: Instant) {
        guard var st = replicas[id], st.record.epoch.id == epoch,
              !st.record.epochOpen || st.record.prior != nil else { return }
        if st.record.primary == config.server {
            guard isTakeover(st.record) else { return }
            giveUpTakeover(&st, now: now, why: "its primary opened it")
        }
        st.record.epochOpen = true
        st.record.prior = nil
        persist(st.record)
        replicas[id] = st
    }
}

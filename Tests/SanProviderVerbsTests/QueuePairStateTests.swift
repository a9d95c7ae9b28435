import CIBVerbs
@testable import SanProviderVerbs
import Testing

/// The RC QP state machine as a pure function (InfiniBand spec's required attributes per step;
/// the reference §5.2 values).
@Suite struct QueuePairStateTests {
    let local = VerbsLocalPath(
        portNumber: 1, gidIndex: 3,
        endpoint: VerbsEndpoint(queuePairNumber: 0x11, packetSequenceNumber: 0xAAAA, lid: 7, gid: Array(repeating: 1, count: 16),
                                mtu: 5, linkLayer: .infiniband, initiatorDepth: 4, responderResources: 4))
    let peer = VerbsEndpoint(queuePairNumber: 0x22, packetSequenceNumber: 0xBBBB, lid: 9, gid: Array(repeating: 2, count: 16),
                             mtu: 3, linkLayer: .infiniband, initiatorDepth: 4, responderResources: 2)

    @Test func valuesAreLibibverbsValues() {
        #expect(VerbsQueuePairState.reset.rawValue == IBV_QPS_RESET.rawValue)
        #expect(VerbsQueuePairState.initialized.rawValue == IBV_QPS_INIT.rawValue)
        #expect(VerbsQueuePairState.readyToReceive.rawValue == IBV_QPS_RTR.rawValue)
        #expect(VerbsQueuePairState.readyToSend.rawValue == IBV_QPS_RTS.rawValue)
        #expect(VerbsQueuePairState.error.rawValue == IBV_QPS_ERR.rawValue)
        typealias M = VerbsQueuePairAttributeMask
        let pairs: [(M, ibv_qp_attr_mask)] = [
            (.state, IBV_QP_STATE), (.accessFlags, IBV_QP_ACCESS_FLAGS), (.pkeyIndex, IBV_QP_PKEY_INDEX),
            (.port, IBV_QP_PORT), (.addressVector, IBV_QP_AV), (.pathMTU, IBV_QP_PATH_MTU), (.timeout, IBV_QP_TIMEOUT),
            (.retryCount, IBV_QP_RETRY_CNT), (.rnrRetry, IBV_QP_RNR_RETRY), (.receivePSN, IBV_QP_RQ_PSN),
            (.maxReadAtomic, IBV_QP_MAX_QP_RD_ATOMIC), (.minRNRTimer, IBV_QP_MIN_RNR_TIMER), (.sendPSN, IBV_QP_SQ_PSN),
            (.maxDestReadAtomic, IBV_QP_MAX_DEST_RD_ATOMIC), (.destQueuePair, IBV_QP_DEST_QPN),
        ]
        for (mine, theirs) in pairs { #expect(mine.rawValue == theirs.rawValue) }
        #expect(UInt32(IBV_MTU_4096.rawValue) == 5 && UInt32(IBV_MTU_256.rawValue) == 1)
    }

    func step(_ from: VerbsQueuePairState, _ to: VerbsQueuePairState, peer: VerbsEndpoint?) -> VerbsQueuePairAttributes? {
        try? VerbsQueuePairTransitions.attributes(from: from, to: to, local: self.local, peer: peer).get()
    }

    @Test func resetToInit() {
        guard let a = self.step(.reset, .initialized, peer: nil) else { Issue.record("refused"); return }
        #expect(a.mask == [.state, .pkeyIndex, .port, .accessFlags])
        #expect(a.state == .initialized && a.portNumber == 1 && a.pkeyIndex == 0)
        #expect(a.access == [.localWrite, .remoteWrite, .remoteRead])
    }

    @Test func initToReadyToReceive() {
        guard let a = self.step(.initialized, .readyToReceive, peer: self.peer) else { Issue.record("refused"); return }
        #expect(a.mask == [.state, .addressVector, .pathMTU, .destQueuePair, .receivePSN, .maxDestReadAtomic, .minRNRTimer])
        #expect(a.pathMTU == 3, "the smaller of the two MTUs")
        #expect(a.destQueuePair == 0x22 && a.receivePSN == 0xBBBB)
        #expect(a.maxDestReadAtomic == 4, "responder resources this side announced")
        #expect(a.minRNRTimer == 8)
        #expect(a.addressVector == VerbsAddressVector(destinationLID: 9, portNumber: 1, isGlobal: false,
                                                      destinationGID: self.peer.gid, sourceGIDIndex: 3, hopLimit: 64))
    }

    @Test func readyToReceiveToReadyToSend() {
        guard let a = self.step(.readyToReceive, .readyToSend, peer: self.peer) else { Issue.record("refused"); return }
        #expect(a.mask == [.state, .timeout, .retryCount, .rnrRetry, .sendPSN, .maxReadAtomic])
        #expect(a.rnrRetry == 7, "RNR retry 7: wait for late receives forever (reference §5.2)")
        #expect(a.retryCount == 7 && a.timeout == 14)
        #expect(a.sendPSN == 0xAAAA)
        #expect(a.maxReadAtomic == 2, "never more reads in flight than the peer serves")
    }

    @Test func roceAndLIDlessPathsUseTheGlobalRoute() {
        var roce = self.local
        roce.endpoint.linkLayer = .ethernet
        var peer = self.peer
        peer.linkLayer = .ethernet
        peer.lid = 0
        let a = try? VerbsQueuePairTransitions.attributes(from: .initialized, to: .readyToReceive, local: roce, peer: peer).get()
        #expect(a?.addressVector?.isGlobal == true)
        var ibNoLID = self.peer
        ibNoLID.lid = 0
        #expect(self.step(.initialized, .readyToReceive, peer: ibNoLID)?.addressVector?.isGlobal == true)
    }

    @Test func illegalStepsAreRefused() {
        let illegal: [(VerbsQueuePairState, VerbsQueuePairState)] = [
            (.reset, .readyToReceive), (.reset, .readyToSend), (.initialized, .readyToSend), (.readyToSend, .readyToReceive),
            (.readyToSend, .initialized), (.error, .readyToSend), (.readyToReceive, .initialized),
        ]
        for (from, to) in illegal {
            let r = VerbsQueuePairTransitions.attributes(from: from, to: to, local: self.local, peer: self.peer)
            #expect(r == .failure(.illegal(from: from, to: to)), "\(from)→\(to)")
        }
    }

    @Test func anyStateCanFailOrReset() {
        for from in [VerbsQueuePairState.reset, .initialized, .readyToReceive, .readyToSend, .error] {
            #expect(self.step(from, .error, peer: nil)?.mask == [.state])
            #expect(self.step(from, .reset, peer: nil)?.mask == [.state])
        }
    }

    @Test func peerIsRequiredAndMustShareTheLinkLayer() {
        #expect(VerbsQueuePairTransitions.attributes(from: .initialized, to: .readyToReceive, local: self.local, peer: nil)
            == .failure(.missingPeer))
        #expect(VerbsQueuePairTransitions.attributes(from: .readyToReceive, to: .readyToSend, local: self.local, peer: nil)
            == .failure(.missingPeer))
        var roce = self.peer
        roce.linkLayer = .ethernet
        #expect(VerbsQueuePairTransitions.attributes(from: .initialized, to: .readyToReceive, local: self.local, peer: roce)
            == .failure(.linkLayerMismatch))
    }

    @Test func theConnectPathWalksToReadyToSend() {
        var state = VerbsQueuePairState.reset
        for (from, to) in VerbsQueuePairTransitions.connectPath {
            #expect(from == state)
            #expect(self.step(from, to, peer: self.peer) != nil)
            state = to
        }
        #expect(state == .readyToSend)
    }
}

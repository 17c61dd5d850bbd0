/**
 * Two peers in one process with the SDP passed directly (no relay): for
 * loopback measurements and tests.
 */
import { RtcPeer, type PeerOptions, type WaitOptions } from './peer.js';

export interface PeerPair {
  offerer: RtcPeer;
  answerer: RtcPeer;
  close(): Promise<void>;
}

/** Create two peers, exchange offer and answer, wait until both are connected. Closes both on failure. */
export async function connectPair(offerOptions: PeerOptions, answerOptions: PeerOptions, w: WaitOptions): Promise<PeerPair> {
  const offerer = new RtcPeer(offerOptions);
  let answerer: RtcPeer | undefined;
  const close = async () => {
    await Promise.all([offerer.close(), answerer?.close()]);
  };
  try {
    answerer = new RtcPeer(answerOptions);
    const offer = await offerer.offer(w);
    offerer.mark('offerSent');
    const answer = await answerer.answer(offer, w);
    await offerer.accept(answer);
    await Promise.all([offerer.connected(w), answerer.connected(w)]);
    return { offerer, answerer, close };
  } catch (err) {
    await close();
    throw err;
  }
}
